/* secret_scan: one join through the C ABI, then a search of this process's
 * writable memory for the activation secret and the endorsement password
 * (pytests/test_secrets.py). The challenge comes from the test through
 * files, so the secret never has to be in this process except as the TPM
 * recovers it.
 *
 *   secret_scan CONFIG_HEX SECRET_HEX PASSWORD_HEX DIR
 *
 * Every HEX argument is XOR 0x5a of the real bytes: the patterns this
 * program holds never match themselves. It writes DIR/init.bin, waits for
 * DIR/challenge.bin, and prints one line per scan point:
 *   <point> <pattern> <hits>
 * for the points after_respond and after_close. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tpmjoin.h"

enum { kMask = 0x5a };

typedef struct {
  uint8_t *masked;
  size_t len;
} pattern;

static pattern from_hex(const char *hex) {
  pattern p = {NULL, strlen(hex) / 2};
  p.masked = malloc(p.len ? p.len : 1);
  for (size_t i = 0; i < p.len; ++i) {
    unsigned v = 0;
    sscanf(hex + 2 * i, "%2x", &v);
    p.masked[i] = (uint8_t)v;
  }
  return p;
}

/* Occurrences of the unmasked pattern in every readable and writable
 * mapping (heap, stacks, anonymous and library data), read in chunks.
 * Mappings over 1 GiB are reservations, not data (ASan's shadow memory). */
static int count_hits(const pattern *p) {
  enum { kChunk = 1 << 20 };
  FILE *maps = fopen("/proc/self/maps", "r");
  FILE *mem = fopen("/proc/self/mem", "rb");
  uint8_t *buf = malloc(kChunk + p->len);
  if (maps == NULL || mem == NULL || buf == NULL || p->len == 0) return -1;
  char line[512];
  int hits = 0;
  while (fgets(line, sizeof line, maps)) {
    unsigned long start = 0, end = 0;
    char perms[8] = "";
    if (sscanf(line, "%lx-%lx %7s", &start, &end, perms) != 3) continue;
    if (perms[0] != 'r' || perms[1] != 'w' || end - start > (1UL << 30)) continue;
    /* Each chunk overlaps the next by len - 1 bytes: no match is split. */
    for (unsigned long at = start; at < end; at += kChunk) {
      const size_t want = (end - at < kChunk + p->len - 1) ? end - at : kChunk + p->len - 1;
      if (fseek(mem, (long)at, SEEK_SET) != 0 || fread(buf, 1, want, mem) != want) {
        clearerr(mem);
        continue;
      }
      for (size_t i = 0; i + p->len <= want && i < kChunk; ++i) {
        size_t j = 0;
        while (j < p->len && (uint8_t)(buf[i + j] ^ kMask) == p->masked[j]) ++j;
        if (j == p->len) ++hits;
      }
    }
  }
  /* The buffer held copies of whatever it scanned: wipe it, or a later scan
   * finds them in freed memory (ASan's quarantine keeps freed blocks). */
  volatile uint8_t *wipe = buf;
  for (size_t i = 0; i < kChunk + p->len; ++i) wipe[i] = 0;
  free(buf);
  fclose(maps);
  fclose(mem);
  return hits;
}

static int fail(const char *step) {
  fprintf(stderr, "%s: %s\n", step, tpmjoin_last_error());
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: secret_scan CONFIG_HEX SECRET_HEX PASSWORD_HEX DIR\n");
    return 2;
  }
  pattern config = from_hex(argv[1]);
  char *config_json = calloc(config.len + 1, 1);
  for (size_t i = 0; i < config.len; ++i) config_json[i] = (char)(config.masked[i] ^ kMask);
  const pattern secret = from_hex(argv[2]);
  const pattern password = from_hex(argv[3]);
  char path[4096];

  tpmjoin_session *s = NULL;
  const tpmjoin_status opened = tpmjoin_session_open(config_json, &s);
  explicit_bzero(config_json, config.len);  /* our own copy of the password */
  free(config_json);
  if (opened != TPMJOIN_OK) return fail("tpmjoin_session_open");

  tpmjoin_bytes init = {0};
  if (tpmjoin_join_begin(s, NULL, 0, &init) != TPMJOIN_OK) return fail("tpmjoin_join_begin");
  snprintf(path, sizeof path, "%s/init.tmp", argv[4]);
  FILE *f = fopen(path, "wb");
  if (f == NULL || fwrite(init.data, 1, init.len, f) != init.len || fclose(f) != 0) return 1;
  char ready[4096];
  snprintf(ready, sizeof ready, "%s/init.bin", argv[4]);
  rename(path, ready);
  tpmjoin_bytes_free(&init);

  snprintf(path, sizeof path, "%s/challenge.bin", argv[4]);
  for (int i = 0; access(path, R_OK) != 0; ++i) {
    if (i > 6000) return fail("waiting for the challenge");
    usleep(10000);
  }
  static uint8_t challenge[65536];
  f = fopen(path, "rb");
  const size_t n = f ? fread(challenge, 1, sizeof challenge, f) : 0;
  if (f) fclose(f);
  tpmjoin_bytes answer = {0};
  if (tpmjoin_join_respond(s, challenge, n, &answer) != TPMJOIN_OK) {
    return fail("tpmjoin_join_respond");
  }
  tpmjoin_bytes_free(&answer);  /* the caller's copy: wiped by the library */

  printf("after_respond secret %d\n", count_hits(&secret));
  tpmjoin_session_close(s);
  printf("after_close secret %d\n", count_hits(&secret));
  printf("after_close password %d\n", count_hits(&password));
  return 0;
}
