// The verifier's cost per challenge (through the ABI, as a server calls it)
// next to the public-key operations no verifier can avoid: the EK
// certificate's signature, the AK's signature over its creation, and the
// RSA-OAEP encryption of the seed to the EK.
//
// Inputs come from bench/run_bench.py: --init=FILE (a serialized init
// request made by libtpmjoin on swtpm), --policy=FILE, --ca=FILE (the EK
// certificate's issuing CA).
#include <benchmark/benchmark.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "abi/tpmjoin.pb.h"
#include "src/common/digest.h"
#include "src/common/ek_cert.h"
#include "src/common/keys.h"
#include "src/common/ossl.h"
#include "src/common/tpm_mu.h"
#include "src/verifier/verifier.h"
#include "tpmjoin.h"
#include "tpmjoin_verifier.h"

namespace {

using namespace tpmjoin;

std::string g_init, g_policy, g_ca;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", path.c_str());
    std::exit(2);
  }
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "verifier_bench: %s\n", what);
  std::exit(2);
}

tpmjoin::v1::RegisterUsingTPMMethodInitialRequest Init() {
  tpmjoin::v1::RegisterUsingTPMMethodRequest req;
  if (!req.ParseFromString(g_init) || !req.has_init()) Die("--init is not an init request");
  return req.init();
}

void BM_VerifierChallenge(benchmark::State& state) {
  tpmjoin_verifier* v = nullptr;
  if (tpmjoin_verifier_open(g_policy.c_str(), &v) != TPMJOIN_OK) Die(tpmjoin_last_error());
  const auto* data = reinterpret_cast<const uint8_t*>(g_init.data());
  for (auto _ : state) {
    tpmjoin_challenge* c = nullptr;
    tpmjoin_bytes out = {nullptr, 0};
    if (tpmjoin_verifier_challenge(v, data, g_init.size(), &c, &out) != TPMJOIN_OK) {
      Die(tpmjoin_last_error());
    }
    tpmjoin_bytes_free(&out);
    tpmjoin_challenge_free(c);
  }
  tpmjoin_verifier_close(v);
}
BENCHMARK(BM_VerifierChallenge);

// The same with the cache of verified EKs turned off: what the first join of
// a host costs (certificate parsing and path validation every time).
void BM_VerifierChallenge_NoEkCache(benchmark::State& state) {
  verifier::VerifierOptions options;
  options.ek_cache_capacity = 0;
  auto v = verifier::Verifier::New(g_policy, options);
  if (!v.ok()) Die("policy");
  for (auto _ : state) {
    auto issued = (*v)->NewChallenge(AsSpan(g_init));
    if (!issued.ok()) Die("challenge");
    benchmark::DoNotOptimize(issued);
  }
}
BENCHMARK(BM_VerifierChallenge_NoEkCache);

void BM_Floor_EkCertSignature(benchmark::State& state) {
  const auto init = Init();
  auto cert = ParseCertificateDer(AsSpan(init.ek_cert()));
  BioPtr bio(BIO_new_mem_buf(g_ca.data(), static_cast<int>(g_ca.size())));
  X509Ptr ca(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert.ok() || !ca) Die("cannot parse the EK certificate or the CA");
  EVP_PKEY* ca_key = X509_get0_pubkey(ca.get());
  for (auto _ : state) {
    if (X509_verify(cert->get(), ca_key) != 1) Die("EK certificate signature");
  }
}
BENCHMARK(BM_Floor_EkCertSignature);

void BM_Floor_AkSignature(benchmark::State& state) {
  const auto init = Init();
  const auto& params = init.attestation_params();
  auto pub = Unmarshal<TPMT_PUBLIC>(AsSpan(params.public_()), "public");
  auto sig = Unmarshal<TPMT_SIGNATURE>(AsSpan(params.create_signature()), "signature");
  if (!pub.ok() || !sig.ok() || sig->sigAlg != TPM2_ALG_RSASSA) Die("need an RSA AK");
  auto key = PublicKeyFromTpmt(*pub);
  if (!key.ok()) Die("AK key");
  const std::string& msg = params.create_attestation();
  const TPM2B_PUBLIC_KEY_RSA& s = sig->signature.rsassa.sig;
  for (auto _ : state) {
    EvpMdCtxPtr ctx(EVP_MD_CTX_new());
    if (EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key->get()) != 1 ||
        EVP_DigestVerify(ctx.get(), s.buffer, s.size,
                         reinterpret_cast<const unsigned char*>(msg.data()), msg.size()) != 1) {
      Die("AK signature");
    }
  }
}
BENCHMARK(BM_Floor_AkSignature);

void BM_Floor_OaepEncrypt(benchmark::State& state) {
  const auto init = Init();
  auto cert = ParseCertificateDer(AsSpan(init.ek_cert()));
  if (!cert.ok()) Die("EK certificate");
  EVP_PKEY* ek = X509_get0_pubkey(cert->get());
  unsigned char seed[32] = {1};
  unsigned char out[512];
  for (auto _ : state) {
    EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new(ek, nullptr));
    char* label = static_cast<char*>(OPENSSL_malloc(9));
    std::memcpy(label, "IDENTITY", 9);
    size_t out_len = sizeof(out);
    if (EVP_PKEY_encrypt_init(ctx.get()) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_oaep_md(ctx.get(), EVP_sha256()) != 1 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), EVP_sha256()) != 1 ||
        EVP_PKEY_CTX_set0_rsa_oaep_label(ctx.get(), label, 9) != 1 ||
        EVP_PKEY_encrypt(ctx.get(), out, &out_len, seed, sizeof(seed)) != 1) {
      Die("OAEP");
    }
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_Floor_OaepEncrypt);

// Not part of the floor: OpenSSL 3.0's own parse of the EK certificate
// (d2i_X509, which decodes the public key through the provider decoders).
// Every first join of a host pays it; the row shows how much of
// BM_VerifierChallenge_NoEkCache it is.
void BM_Reference_ParseEkCertificate(benchmark::State& state) {
  const auto init = Init();
  const std::string& der = init.ek_cert();
  for (auto _ : state) {
    const auto* p = reinterpret_cast<const unsigned char*>(der.data());
    X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
    if (!cert) Die("d2i_X509");
    benchmark::DoNotOptimize(cert);
  }
}
BENCHMARK(BM_Reference_ParseEkCertificate);

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--init=", 0) == 0) {
      g_init = Slurp(arg.substr(7));
    } else if (arg.rfind("--policy=", 0) == 0) {
      g_policy = Slurp(arg.substr(9));
    } else if (arg.rfind("--ca=", 0) == 0) {
      g_ca = Slurp(arg.substr(5));
    } else {
      rest.push_back(argv[i]);
    }
  }
  if (g_init.empty() || g_policy.empty() || g_ca.empty()) {
    std::fprintf(stderr, "usage: verifier_bench --init=FILE --policy=FILE --ca=FILE "
                         "[benchmark flags]\n(run it through ./dev bench)\n");
    return 2;
  }
  int n = static_cast<int>(rest.size());
  benchmark::Initialize(&n, rest.data());
  if (benchmark::ReportUnrecognizedArguments(n, rest.data())) return 2;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
