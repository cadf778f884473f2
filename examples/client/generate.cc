// Connects to a running ringserved, streams one answer to stdout, and prints errors.
//   ringserve-example-generate NAME [PROMPT]
#include <iostream>
#include <memory>

#include <ringserve/client.h>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: " << argv[0] << " NAME [PROMPT]\n";
    return 2;
  }
  std::unique_ptr<ringserve::Client> client;
  ringserve::Status s = ringserve::Client::connect(argv[1], &client);
  std::unique_ptr<ringserve::Stream> stream;
  ringserve::GenerateParams params;
  params.max_tokens = 24;
  if (s.ok()) s = client->generate(argc > 2 ? argv[2] : "Hello", params, &stream);
  ringserve::Token token;
  while (s.ok() && (s = stream->next(&token)).ok()) std::cout << token.text << std::flush;
  std::cout << "\n";
  if (!s.end_of_stream()) {  // e.g. "daemon not running: ...", "queue full: ..."
    std::cerr << "error: " << s.to_string() << "\n";
    return 1;
  }
  std::cout << "finish: " << ringserve::to_string(stream->finish_reason()) << "\n";
  return 0;
}
