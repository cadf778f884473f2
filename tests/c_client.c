/* A C client for integration tests, through ringserve.h only:
 *   ringserve_c_client NAME PROMPT MAX_TOKENS
 * Prints the streamed text, then "finish <reason>" or "error <name>: <message>". A request that
 * finished also has its prompt token counts and the daemon's KV cache status read
 * (rs_stream_prompt_tokens, rs_kv_cache) and checked for what holds on any daemon; a breach
 * prints "error kv: ..." instead and exits 4, so the integration test's exact output check
 * covers those calls too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringserve/ringserve.h"

/* NULL if the prompt and KV cache numbers are consistent, else what is wrong. */
static const char* check_kv(rs_client* client, rs_stream* stream) {
  uint32_t prompt = 0;
  uint32_t cached = 0;
  rs_kv_cache_status kv;
  if (rs_stream_prompt_tokens(stream, &prompt, &cached) != RS_OK) return rs_last_error_message();
  /* At least the prompt's last token is computed, for its logits. */
  if (prompt == 0 || cached >= prompt) return "a finished stream's prompt tokens are off";
  if (rs_stream_prompt_tokens(stream, NULL, NULL) != RS_OK) return "NULL outs are refused";
  if (rs_stream_prompt_tokens(NULL, &prompt, &cached) != RS_INVALID_ARGUMENT) {
    return "a NULL stream is taken";
  }
  if (rs_kv_cache(client, &kv) != RS_OK) return rs_last_error_message();
  if ((uint64_t)kv.blocks_in_use + kv.blocks_cached > kv.blocks_total ||
      kv.prompt_tokens_cached > kv.prompt_tokens) {
    return "the KV cache's counts do not add up";
  }
  if (rs_kv_cache(client, NULL) != RS_INVALID_ARGUMENT) return "a NULL out is taken";
  return NULL;
}

int main(int argc, char** argv) {
  if (argc != 4) return 2;
  rs_client* client = NULL;
  rs_stream* stream = NULL;
  rs_params params;
  rs_params_init(&params);
  params.max_tokens = (uint32_t)atoi(argv[3]);
  rs_error e = rs_connect(argv[1], &client);
  if (e == RS_OK) e = rs_generate(client, argv[2], strlen(argv[2]), &params, &stream);
  if (e == RS_OK) {
    rs_token token;
    while ((e = rs_stream_next(stream, -1, &token)) == RS_OK) {
      fwrite(token.text, 1, token.text_length, stdout);
    }
  }
  printf("\n");
  int rc = 0;
  /* A request cancelled before it ran has no prompt tokens; nothing here cancels one. */
  const char* kv_problem =
      e == RS_END_OF_STREAM && rs_stream_finish_reason(stream) != RS_FINISH_CANCELLED
          ? check_kv(client, stream)
          : NULL;
  if (kv_problem != NULL) {
    printf("error kv: %s\n", kv_problem);
    rc = 4;
  } else if (e == RS_END_OF_STREAM) {
    printf("finish %s\n", rs_finish_reason_name(rs_stream_finish_reason(stream)));
  } else {
    printf("error %s: %s\n", rs_error_name(e), rs_last_error_message());
    rc = 3;
  }
  rs_stream_close(stream);
  rs_disconnect(client);
  return rc;
}
