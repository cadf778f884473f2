// A client process for integration tests:
//   ringserve_test_client NAME PROMPT MAX_TOKENS [--cancel-after N] [--read-delay-ms MS]
//                         [--stop-token ID]
// Prints the streamed text on the first line, "ids <count>" on the second and
// "finish <reason>" or "error <code name>: <message>" on the last. Exit: 0 at end of stream,
// 3 on an error status, 2 on bad usage.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "ringserve/client.h"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s NAME PROMPT MAX_TOKENS [options]\n", argv[0]);
    return 2;
  }
  ringserve::GenerateParams params;
  params.max_tokens = static_cast<uint32_t>(std::atoi(argv[3]));
  long cancel_after = -1;
  long read_delay_ms = 0;
  for (int i = 4; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--cancel-after") == 0) {
      cancel_after = std::atol(argv[i + 1]);
    } else if (std::strcmp(argv[i], "--read-delay-ms") == 0) {
      read_delay_ms = std::atol(argv[i + 1]);
    } else if (std::strcmp(argv[i], "--stop-token") == 0) {
      params.stop_token_ids.push_back(std::atoi(argv[i + 1]));
    } else {
      return 2;
    }
  }
  std::unique_ptr<ringserve::Client> client;
  ringserve::Status s = ringserve::Client::connect(argv[1], &client);
  std::unique_ptr<ringserve::Stream> stream;
  if (s.ok()) s = client->generate(argv[2], params, &stream);
  std::string text;
  long count = 0;
  ringserve::Token token;
  while (s.ok() && (s = stream->next(&token)).ok()) {
    text += token.text;
    ++count;
    if (count == cancel_after) stream->cancel();
    if (read_delay_ms > 0) usleep(static_cast<useconds_t>(read_delay_ms * 1000));
  }
  std::printf("%s\nids %ld\n", text.c_str(), count);
  if (s.end_of_stream()) {
    std::printf("finish %s\n", ringserve::to_string(stream->finish_reason()));
    return 0;
  }
  std::printf("error %s\n", s.to_string().c_str());
  return 3;
}
