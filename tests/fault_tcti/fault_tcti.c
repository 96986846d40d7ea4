/*
 * A TCTI for tests that wraps another TCTI and injects TPM faults.
 *
 * Load it by path through tctildr:  "<path>/libtpmjoin-fault-tcti.so:<child tcti>"
 * e.g. "build/tests/libtpmjoin-fault-tcti.so:swtpm:host=127.0.0.1,port=2321".
 *
 * Faults come from $TPMJOIN_FAULTS, comma-separated rules:
 *   <command>=<rc>*<count>   answer the next <count> <command>s with response
 *                            code <rc> (hex) without sending them to the TPM
 *   <command>=disconnect     send <command>, then report an I/O error and
 *                            fail every later call, as a vanished TPM would
 *   <command>=corrupt        send <command>, then flip the last bit of the
 *                            TPM's response (its session area) before the
 *                            caller sees it: the TPM did the work (e.g.
 *                            released a secret), the caller must reject it;
 *                            logged as "corrupted <cc> rc=<rc of the answer>"
 * A rule may end in @<command>: it is armed only once that command has been
 * sent (e.g. FlushContext=disconnect@ActivateCredential).
 * <command> is a TPM2_CC name without prefix (ActivateCredential, Load, ...)
 * or a hex command code. Every command code seen is appended, one per line,
 * to $TPMJOIN_FAULTS_LOG when set.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <tss2/tss2_tcti.h>
#include <tss2/tss2_tctildr.h>

#define MAX_RULES 16
#define FAULT_MAGIC 0x74706d6a6f696e66ULL

typedef struct {
  uint32_t command_code;
  uint32_t rc;          /* 0 for disconnect */
  int count;            /* remaining injections */
  int disconnect;
  int corrupt;
  uint32_t armed_by;    /* 0, or the command code that arms this rule */
  int armed;
} rule_t;

typedef struct {
  TSS2_TCTI_CONTEXT_COMMON_V2 common;
  TSS2_TCTI_CONTEXT *child;
  rule_t rules[MAX_RULES];
  size_t n_rules;
  int fake_pending;     /* next receive returns fake_rc */
  uint32_t fake_rc;
  int disconnect_pending;
  int corrupt_pending;
  uint32_t corrupt_cc;
  int dead;
  char log_path[512];
} fault_tcti_t;

static const struct { const char *name; uint32_t cc; } kCommands[] = {
    {"ReadPublic", 0x173},      {"NV_ReadPublic", 0x169},    {"NV_Read", 0x14e},
    {"CreatePrimary", 0x131},   {"CertifyCreation", 0x14a},  {"StartAuthSession", 0x176},
    {"PolicySecret", 0x151},    {"ActivateCredential", 0x147}, {"FlushContext", 0x165},
    {"Create", 0x153},          {"Load", 0x157},             {"GetCapability", 0x17a},
};

static uint32_t command_code_of(const char *name, size_t len) {
  for (size_t i = 0; i < sizeof(kCommands) / sizeof(kCommands[0]); ++i) {
    if (strlen(kCommands[i].name) == len && strncasecmp(name, kCommands[i].name, len) == 0) {
      return kCommands[i].cc;
    }
  }
  return (uint32_t)strtoul(name, NULL, 16);
}

static void parse_rules(fault_tcti_t *t, const char *spec) {
  char buf[1024];
  snprintf(buf, sizeof(buf), "%s", spec ? spec : "");
  for (char *save = NULL, *item = strtok_r(buf, ",", &save); item && t->n_rules < MAX_RULES;
       item = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(item, '=');
    if (!eq) continue;
    rule_t *r = &t->rules[t->n_rules++];
    r->command_code = command_code_of(item, (size_t)(eq - item));
    char *at = strchr(eq + 1, '@');
    if (at) {
      *at = '\0';
      r->armed_by = command_code_of(at + 1, strlen(at + 1));
    } else {
      r->armed = 1;
    }
    if (strcmp(eq + 1, "disconnect") == 0) {
      r->disconnect = 1;
      r->count = 1;
    } else if (strcmp(eq + 1, "corrupt") == 0) {
      r->corrupt = 1;
      r->count = 1;
    } else {
      char *star = strchr(eq + 1, '*');
      r->rc = (uint32_t)strtoul(eq + 1, NULL, 16);
      r->count = star ? atoi(star + 1) : 1;
    }
  }
}

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void log_line(const fault_tcti_t *t, const char *fmt, uint32_t a, uint32_t b) {
  if (!t->log_path[0]) return;
  FILE *log = fopen(t->log_path, "a");
  if (log) {
    fprintf(log, fmt, a, b);
    fclose(log);
  }
}

static TSS2_RC fault_transmit(TSS2_TCTI_CONTEXT *ctx, size_t size, const uint8_t *command) {
  fault_tcti_t *t = (fault_tcti_t *)ctx;
  if (t->dead) return TSS2_TCTI_RC_IO_ERROR;
  const uint32_t cc = size >= 10 ? be32(command + 6) : 0;
  log_line(t, "0x%x\n", cc, 0);
  rule_t *fire = NULL;
  for (size_t i = 0; i < t->n_rules; ++i) {
    rule_t *r = &t->rules[i];
    if (r->command_code != cc || r->count <= 0 || !r->armed) continue;
    fire = r;
    break;
  }
  /* This command arms the rules waiting for it (from the next command on). */
  for (size_t i = 0; i < t->n_rules; ++i) {
    if (!t->rules[i].armed && t->rules[i].armed_by == cc) t->rules[i].armed = 1;
  }
  if (fire) {
    rule_t *r = fire;
    r->count--;
    if (r->disconnect) {
      t->disconnect_pending = 1;
      return Tss2_Tcti_Transmit(t->child, size, command);
    }
    if (r->corrupt) {
      t->corrupt_pending = 1;
      t->corrupt_cc = cc;
      return Tss2_Tcti_Transmit(t->child, size, command);
    }
    t->fake_pending = 1;
    t->fake_rc = r->rc;
    return TSS2_RC_SUCCESS;
  }
  return Tss2_Tcti_Transmit(t->child, size, command);
}

static TSS2_RC fault_receive(TSS2_TCTI_CONTEXT *ctx, size_t *size, uint8_t *response,
                             int32_t timeout) {
  fault_tcti_t *t = (fault_tcti_t *)ctx;
  if (t->dead) return TSS2_TCTI_RC_IO_ERROR;
  if (t->fake_pending) {
    if (response == NULL) {
      *size = 10;
      return TSS2_RC_SUCCESS;
    }
    if (*size < 10) return TSS2_TCTI_RC_INSUFFICIENT_BUFFER;
    const uint8_t fake[10] = {0x80, 0x01, 0, 0, 0, 10, (uint8_t)(t->fake_rc >> 24),
                              (uint8_t)(t->fake_rc >> 16), (uint8_t)(t->fake_rc >> 8),
                              (uint8_t)t->fake_rc};
    memcpy(response, fake, sizeof(fake));
    *size = sizeof(fake);
    t->fake_pending = 0;
    return TSS2_RC_SUCCESS;
  }
  if (t->disconnect_pending) {
    /* The command reached the TPM; its answer never comes back. */
    t->dead = 1;
    return TSS2_TCTI_RC_IO_ERROR;
  }
  const TSS2_RC rc = Tss2_Tcti_Receive(t->child, size, response, timeout);
  if (t->corrupt_pending && rc == TSS2_RC_SUCCESS && response != NULL && *size >= 10) {
    t->corrupt_pending = 0;
    log_line(t, "corrupted 0x%x rc=0x%x\n", t->corrupt_cc, be32(response + 6));
    response[*size - 1] ^= 0x01;
  }
  return rc;
}

static void fault_finalize(TSS2_TCTI_CONTEXT *ctx) {
  fault_tcti_t *t = (fault_tcti_t *)ctx;
  Tss2_TctiLdr_Finalize(&t->child);
}

static TSS2_RC fault_cancel(TSS2_TCTI_CONTEXT *ctx) {
  return Tss2_Tcti_Cancel(((fault_tcti_t *)ctx)->child);
}

static TSS2_RC fault_get_poll_handles(TSS2_TCTI_CONTEXT *ctx, TSS2_TCTI_POLL_HANDLE *handles,
                                      size_t *num) {
  return Tss2_Tcti_GetPollHandles(((fault_tcti_t *)ctx)->child, handles, num);
}

static TSS2_RC fault_set_locality(TSS2_TCTI_CONTEXT *ctx, uint8_t locality) {
  return Tss2_Tcti_SetLocality(((fault_tcti_t *)ctx)->child, locality);
}

static TSS2_RC fault_make_sticky(TSS2_TCTI_CONTEXT *ctx, TPM2_HANDLE *handle, uint8_t sticky) {
  return Tss2_Tcti_MakeSticky(((fault_tcti_t *)ctx)->child, handle, sticky);
}

static TSS2_RC fault_init(TSS2_TCTI_CONTEXT *ctx, size_t *size, const char *config) {
  if (ctx == NULL) {
    if (size == NULL) return TSS2_TCTI_RC_BAD_VALUE;
    *size = sizeof(fault_tcti_t);
    return TSS2_RC_SUCCESS;
  }
  fault_tcti_t *t = (fault_tcti_t *)ctx;
  memset(t, 0, sizeof(*t));
  TSS2_RC rc = Tss2_TctiLdr_Initialize(config, &t->child);
  if (rc != TSS2_RC_SUCCESS) return rc;
  parse_rules(t, getenv("TPMJOIN_FAULTS"));
  const char *log = getenv("TPMJOIN_FAULTS_LOG");
  if (log) snprintf(t->log_path, sizeof(t->log_path), "%s", log);
  TSS2_TCTI_CONTEXT_COMMON_V1 *v1 = &t->common.v1;
  v1->magic = FAULT_MAGIC;
  v1->version = 2;
  v1->transmit = fault_transmit;
  v1->receive = fault_receive;
  v1->finalize = fault_finalize;
  v1->cancel = fault_cancel;
  v1->getPollHandles = fault_get_poll_handles;
  v1->setLocality = fault_set_locality;
  t->common.makeSticky = fault_make_sticky;
  return TSS2_RC_SUCCESS;
}

static const TSS2_TCTI_INFO kInfo = {
    .version = 2,
    .name = "tpmjoin-fault",
    .description = "Test TCTI injecting TPM response codes and disconnects",
    .config_help = "the child TCTI string; faults from $TPMJOIN_FAULTS",
    .init = fault_init,
};

__attribute__((visibility("default"))) const TSS2_TCTI_INFO *Tss2_Tcti_Info(void) {
  return &kInfo;
}
