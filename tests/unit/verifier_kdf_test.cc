// Known-answer tests of KDFa and KDFe against tpm2-pytss
// (tests/testdata/verifier/gen_vectors.py).
#include <gtest/gtest.h>

#include "src/verifier/kdf.h"
#include "tests/unit/verifier_test_util.h"

namespace tpmjoin::verifier {
namespace {

using testing::Hex;
using testing::VerifierTestdataJson;

const EVP_MD* MdByName(const std::string& name) {
  if (name == "sha256") return EVP_sha256();
  if (name == "sha384") return EVP_sha384();
  if (name == "sha512") return EVP_sha512();
  ADD_FAILURE() << name;
  return nullptr;
}

TEST(Kdf, KDFaMatchesTpm2Pytss) {
  const nlohmann::json cases = VerifierTestdataJson("kdfa.json");
  ASSERT_GE(cases.size(), 5u);
  for (const auto& c : cases) {
    SCOPED_TRACE(c.dump());
    absl::StatusOr<SecureBytes> out =
        KDFa(MdByName(c["hash"]), Hex(c["key"]), c["label"].get<std::string>(),
             Hex(c["context_u"]), Hex(c["context_v"]), c["bits"].get<size_t>());
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ(HexEncode(*out), c["output"].get<std::string>());
  }
}

TEST(Kdf, KDFeMatchesTpm2Pytss) {
  const nlohmann::json cases = VerifierTestdataJson("kdfe.json");
  ASSERT_GE(cases.size(), 4u);
  for (const auto& c : cases) {
    SCOPED_TRACE(c.dump());
    absl::StatusOr<SecureBytes> out =
        KDFe(MdByName(c["hash"]), Hex(c["z"]), c["label"].get<std::string>(),
             Hex(c["party_u"]), Hex(c["party_v"]), c["bits"].get<size_t>());
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ(HexEncode(*out), c["output"].get<std::string>());
  }
}

TEST(Kdf, RejectsBitCountsThatAreNotWholeBytes) {
  const Bytes key(32, 1);
  EXPECT_FALSE(KDFa(EVP_sha256(), key, "STORAGE", {}, {}, 0).ok());
  EXPECT_FALSE(KDFa(EVP_sha256(), key, "STORAGE", {}, {}, 127).ok());
  EXPECT_FALSE(KDFe(EVP_sha256(), key, "IDENTITY", {}, {}, 9).ok());
  EXPECT_FALSE(KDFe(nullptr, key, "IDENTITY", {}, {}, 256).ok());
}

TEST(Kdf, LabelIncludesTheTerminatingZero) {
  // "STORAGE" and "STORAGE\0"-less framing must differ from a label that
  // merely shares a prefix: the zero octet separates label and context.
  const Bytes key(32, 7);
  const Bytes context = {'X'};
  const SecureBytes a = KDFa(EVP_sha256(), key, "STORAGEX", {}, {}, 256).value();
  const SecureBytes b = KDFa(EVP_sha256(), key, "STORAGE", context, {}, 256).value();
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace tpmjoin::verifier
