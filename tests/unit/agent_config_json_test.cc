#include "src/agent/config_json.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "src/common/errors.h"

namespace tpmjoin::agent {
namespace {

bool SecretKey(absl::string_view key) { return key == "secret"; }

absl::StatusOr<ConfigMembers> Read(absl::string_view json) {
  return ReadConfigObject(json, SecretKey);
}

const ConfigValue& Only(const ConfigMembers& members) {
  EXPECT_EQ(members.size(), 1u);
  return members.front().second;
}

TEST(ConfigJson, ReadsScalarsAndRecordsNestedValuesByKind) {
  auto m = Read(R"( { "s" : "x", "t": true, "f": false, "n": null, "i": -12.5e+3,
                      "a": [1, {"b": [null]}], "o": {"k": "v"} } )");
  ASSERT_TRUE(m.ok()) << m.status();
  using Kind = ConfigValue::Kind;
  const Kind want[] = {Kind::kString, Kind::kBool, Kind::kBool,  Kind::kNull,
                       Kind::kNumber, Kind::kArray, Kind::kObject};
  ASSERT_EQ(m->size(), 7u);
  for (size_t i = 0; i < 7; ++i) EXPECT_EQ((*m)[i].second.kind, want[i]) << (*m)[i].first;
  EXPECT_EQ((*m)[0].second.text, "x");
  EXPECT_TRUE((*m)[1].second.boolean);
  EXPECT_FALSE((*m)[2].second.boolean);
  EXPECT_TRUE(Read("{}").ok());
  EXPECT_TRUE(Read("\xef\xbb\xbf{}").ok());  // a byte order mark, as nlohmann allows
}

TEST(ConfigJson, DecodesEscapesAndUtf8AsJsonDoes) {
  const std::string docs[] = {
      R"({"s":"a\"b\\c\/d\b\f\n\r\t"})",
      R"({"s":"\u0041\u00e9\u20ac\ud83d\ude00\u0000end"})",
      "{\"s\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}",
  };
  for (const std::string& doc : docs) {
    auto m = Read(doc);
    ASSERT_TRUE(m.ok()) << doc << ": " << m.status();
    EXPECT_EQ(Only(*m).text, nlohmann::json::parse(doc)["s"].get<std::string>()) << doc;
  }
}

TEST(ConfigJson, SecretsGoIntoPasswordsOnly) {
  auto m = Read(R"({"secret":"p\u0040ss\nword"})");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(Only(*m).password.view(), "p@ss\nword");
  EXPECT_TRUE(Only(*m).text.empty());
  EXPECT_TRUE(Only(*m).password.OnHeap());

  const std::string longest(Password::kMaxSize, 'p');
  m = Read(R"({"secret":")" + longest + R"("})");
  ASSERT_TRUE(m.ok());
  EXPECT_FALSE(Only(*m).too_long);
  EXPECT_EQ(Only(*m).password.view(), longest);
  m = Read(R"({"secret":")" + longest + R"(q"})");
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(Only(*m).too_long);
  EXPECT_TRUE(Only(*m).password.empty());
}

// Every document here is invalid JSON; nlohmann agrees, and our message
// gives the offset but none of the text.
TEST(ConfigJson, RejectsWhatJsonRejects) {
  const std::string docs[] = {
      "{",  "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{,}", "{\"a\":1 \"b\":2}", "{'a':1}",
      "{\"a\":01}", "{\"a\":1.}", "{\"a\":.5}", "{\"a\":1e}", "{\"a\":-}", "{\"a\":+1}",
      "{\"a\":tru}", "{\"a\":nul}", "{\"a\":True}", "{\"a\":\"x}", "{\"a\":\"\\x\"}",
      "{\"a\":\"\\u12\"}", "{\"a\":\"\\ud800\"}", "{\"a\":\"\\udc00\"}",
      "{\"a\":\"\\ud800\\u0041\"}", "{\"a\":\"tab\there\"}", "{\"a\":\"\xff\"}",
      "{\"a\":\"\xc0\xaf\"}", "{\"a\":\"\xed\xa0\x80\"}", "{\"a\":\"\xf4\x90\x80\x80\"}",
      "{\"a\":\"\xe2\x82\"}", "{\"a\":[1,]}", "{\"a\":[1 2]}", "{\"a\":{\"b\"}}", "{} {}",
      "{}x", "{\"secret\":\"hunter2\\q\"}"};
  for (const std::string& doc : docs) {
    EXPECT_FALSE(nlohmann::json::accept(doc)) << doc;
    auto m = Read(doc);
    ASSERT_FALSE(m.ok()) << doc;
    EXPECT_EQ(AbiCodeOf(m.status()), AbiCode::kInvalidArgument);
    EXPECT_NE(m.status().message().find("config is not valid JSON: "), absl::string_view::npos)
        << m.status();
    EXPECT_NE(m.status().message().find(" at byte "), absl::string_view::npos) << m.status();
    EXPECT_EQ(m.status().message().find("hunter2"), absl::string_view::npos) << m.status();
  }
}

TEST(ConfigJson, RootMustBeOneObject) {
  for (const char* doc : {"[]", "\"x\"", "1", "null", " [ {\"a\": 1} ] "}) {
    auto m = Read(doc);
    ASSERT_FALSE(m.ok()) << doc;
    EXPECT_EQ(m.status().message(), "config must be a JSON object") << doc;
  }
  EXPECT_NE(Read("[1,").status().message().find("not valid JSON"), absl::string_view::npos);
}

TEST(ConfigJson, NestingIsBounded) {
  const auto nested = [](int depth) {
    return "{\"a\":" + std::string(depth - 1, '[') + std::string(depth - 1, ']') + "}";
  };
  EXPECT_TRUE(Read(nested(64)).ok());
  auto m = Read(nested(65));
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("nested too deeply"), absl::string_view::npos);
}

TEST(ConfigJson, RepeatedKeysAreNamedAfterTheWholeDocumentIsValid) {
  auto m = Read(R"({"a":1,"b":2,"a":3})");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().message(), "config key \"a\" appears more than once");
  // Found by fuzzing: the empty key, given twice.
  EXPECT_EQ(Read(R"({"":1,"":2})").status().message(), "config key \"\" appears more than once");
  // Invalid JSON wins over a repeated key.
  EXPECT_NE(Read(R"({"a":1,"a":2,})").status().message().find("not valid JSON"),
            absl::string_view::npos);
  // The same key in a nested object is no repetition.
  EXPECT_TRUE(Read(R"({"a":{"k":1},"b":{"k":2}})").ok());
}

}  // namespace
}  // namespace tpmjoin::agent
