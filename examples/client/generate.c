/* The same through the C API:  ringserve-example-generate-c NAME [PROMPT] */
#include <stdio.h>
#include <string.h>

#include <ringserve/ringserve.h>

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s NAME [PROMPT]\n", argv[0]);
    return 2;
  }
  const char* prompt = argc > 2 ? argv[2] : "Hello";
  rs_client* client = NULL;
  rs_stream* stream = NULL;
  rs_params params;
  rs_params_init(&params);
  params.max_tokens = 24;
  rs_error e = rs_connect(argv[1], &client);
  if (e == RS_OK) e = rs_generate(client, prompt, strlen(prompt), &params, &stream);
  rs_token token;
  while (e == RS_OK && (e = rs_stream_next(stream, -1, &token)) == RS_OK) {
    fwrite(token.text, 1, token.text_length, stdout);
    fflush(stdout);
  }
  printf("\n");
  int rc = 0;
  if (e == RS_END_OF_STREAM) {
    printf("finish: %s\n", rs_finish_reason_name(rs_stream_finish_reason(stream)));
  } else {
    /* The message starts with the error's name, e.g. "daemon not running: ...". */
    fprintf(stderr, "error: %s\n", rs_last_error_message());
    rc = 1;
  }
  rs_stream_close(stream); /* both accept NULL */
  rs_disconnect(client);
  return rc;
}
