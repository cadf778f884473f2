/* A C client for integration tests, through ringserve.h only:
 *   ringserve_c_client NAME PROMPT MAX_TOKENS
 * Prints the streamed text, then "finish <reason>" or "error <name>: <message>". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringserve/ringserve.h"

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
  if (e == RS_END_OF_STREAM) {
    printf("finish %s\n", rs_finish_reason_name(rs_stream_finish_reason(stream)));
  } else {
    printf("error %s: %s\n", rs_error_name(e), rs_last_error_message());
    rc = 3;
  }
  rs_stream_close(stream);
  rs_disconnect(client);
  return rc;
}
