/* The C API's tokenize and detokenize (ringserve.h), as a C program: compiled as C, so the
 * header's declarations are checked to be C. Usage: c_tokenize_client NAME TEXT. Prints
 *   ids ID...            rs_tokenize's ids
 *   pieces TEXT          its pieces joined
 *   text TEXT            rs_detokenize of those ids
 *   bad CODE_NAME MESSAGE rs_detokenize of {ids[0], 1000000}
 * and exits 0, or 1 with the failing call's message. */
#include <stdio.h>
#include <string.h>

#include "ringserve/ringserve.h"

static int failed(const char* what) {
  fprintf(stderr, "%s: %s\n", what, rs_last_error_message());
  return 1;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: c_tokenize_client NAME TEXT\n");
    return 2;
  }
  rs_client* client = NULL;
  if (rs_connect(argv[1], &client) != RS_OK) return failed("rs_connect");
  rs_tokens tokens;
  if (rs_tokenize(client, argv[2], strlen(argv[2]), 0, &tokens) != RS_OK) {
    return failed("rs_tokenize");
  }
  printf("ids");
  for (size_t i = 0; i < tokens.count; ++i) printf(" %d", tokens.ids[i]);
  printf("\npieces ");
  for (size_t i = 0; i < tokens.count; ++i) {
    fwrite(tokens.text + tokens.piece_offsets[i], 1,
           tokens.piece_offsets[i + 1] - tokens.piece_offsets[i], stdout);
  }
  printf("\n");
  char* text = NULL;
  size_t length = 0;
  if (rs_detokenize(client, tokens.ids, tokens.count, &text, &length) != RS_OK) {
    return failed("rs_detokenize");
  }
  printf("text %s\n", text);
  rs_free(text);
  const int32_t bad[2] = {tokens.count > 0 ? tokens.ids[0] : 65, 1000000};
  rs_tokens_free(&tokens);
  const rs_error e = rs_detokenize(client, bad, 2, &text, &length);
  printf("bad %s %s\n", rs_error_name(e), rs_last_error_message());
  rs_disconnect(client);
  return e == RS_INVALID_PARAMS ? 0 : 1;
}
