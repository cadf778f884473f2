// ringctl chat: a conversation in the terminal. Each line of stdin is a user message; the
// whole history (system, user and assistant turns) goes to the daemon with Client::chat, and
// the answer streams to stdout as it arrives, ended by a newline, then joins the history.
//
// Ctrl-C during an answer cancels it. What was shown of it stays in the history, so the model
// sees what the user saw (/reset forgets it); an answer cancelled before any text drops its
// question too. Ctrl-C at the prompt, or the end of stdin, exits 0. A request that fails for
// reasons of its own (queue full, prompt too long, timeout) is reported on stderr and its
// question dropped; the conversation goes on. Errors that would repeat every turn (the daemon
// gone, bad parameters) end ringctl with 1.
//
// stdin is read with poll() next to the signal pipe rather than with iostreams, so Ctrl-C at
// the prompt is seen at once and piped input (tests, scripts) works the same as a terminal;
// the "> " prompt is printed only when stdin is a terminal.
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "ringserve/client.h"
#include "tools/ringctl.h"

namespace ringctl {
namespace {

class LineReader {
 public:
  enum class Result { kLine, kEnd, kInterrupted, kError };

  Result next(std::string* line) {
    for (;;) {
      const size_t newline = buffer_.find('\n');
      if (newline != std::string::npos || (eof_ && !buffer_.empty())) {
        const size_t end = newline != std::string::npos ? newline : buffer_.size();
        line->assign(buffer_, 0, end);
        buffer_.erase(0, newline != std::string::npos ? end + 1 : end);
        if (!line->empty() && line->back() == '\r') line->pop_back();
        return Result::kLine;
      }
      if (eof_) return Result::kEnd;
      pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {signal_fd(), POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        return Result::kError;
      }
      if ((fds[1].revents & POLLIN) != 0 && take_signal() != 0) return Result::kInterrupted;
      if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) == 0) continue;
      char buf[4096];
      const ssize_t n = ::read(STDIN_FILENO, buf, sizeof(buf));
      if (n > 0) {
        buffer_.append(buf, static_cast<size_t>(n));
      } else if (n == 0) {
        eof_ = true;
      } else if (errno != EINTR && errno != EAGAIN) {
        return Result::kError;
      }
    }
  }

 private:
  std::string buffer_;
  bool eof_ = false;
};

enum class Answer { kDone, kCancelled, kFailed, kFatal };

// Errors a later turn could escape; the others would come back every time.
bool turn_error(ringserve::ErrorCode code) {
  using ringserve::ErrorCode;
  return code == ErrorCode::kQueueFull || code == ErrorCode::kPromptTooLong ||
         code == ErrorCode::kEmptyPrompt || code == ErrorCode::kInvalidUtf8 ||
         code == ErrorCode::kTimeout;
}

Answer report(const ringserve::Status& s) {
  fail(s);
  if (s.code() == ringserve::ErrorCode::kPromptTooLong) {
    std::fputs("ringctl: /reset clears the conversation\n", stderr);
  }
  return turn_error(s.code()) ? Answer::kFailed : Answer::kFatal;
}

// Streams one answer to stdout into *text.
Answer answer(ringserve::Client& client, const std::vector<ringserve::ChatMessage>& history,
              const ringserve::GenerateParams& params, std::string* text) {
  std::unique_ptr<ringserve::Stream> stream;
  ringserve::Status s = client.chat(history, params, &stream);
  if (!s.ok()) return report(s);
  bool cancelling = false;
  ringserve::Token token;
  for (;;) {
    if (!cancelling && pending_signal() != 0) {
      take_signal();
      stream->cancel();  // ends within a scheduler step; the tokens already out still come
      cancelling = true;
    }
    // A short timeout, so a Ctrl-C is acted on even while no token comes (queued, prefill).
    s = stream->next(&token, std::chrono::milliseconds(50));
    if (s.ok()) {
      *text += token.text;
      std::cout << token.text << std::flush;
    } else if (s.code() != ringserve::ErrorCode::kTimeout || stream->done()) {
      break;
    }
  }
  // A Ctrl-C that came as the answer ended was meant for the answer, not for the prompt.
  take_signal();
  if (!s.end_of_stream()) {
    if (!text->empty()) std::cout << "\n" << std::flush;
    return report(s);
  }
  std::cout << "\n" << std::flush;
  if (stream->finish_reason() == ringserve::FinishReason::kCancelled) {
    std::fputs("ringctl: answer cancelled\n", stderr);
    return Answer::kCancelled;
  }
  return Answer::kDone;
}

}  // namespace

int chat(const std::string& name, const std::vector<std::string>& args) {
  ringserve::GenerateParams params;
  std::string system_prompt;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--system") {
      if (!flag_value(args, &i, &system_prompt)) return 2;
      continue;
    }
    const FlagResult r = parse_generate_flag(args, &i, &params);
    if (r == FlagResult::kError) return 2;
    if (r == FlagResult::kNotMine) {
      std::fprintf(stderr, "ringctl: unknown chat argument '%s'\n", args[i].c_str());
      return usage(2);
    }
  }
  std::unique_ptr<ringserve::Client> connected;
  if (const ringserve::Status s = ringserve::Client::connect(name, &connected); !s.ok()) {
    return fail(s);
  }
  ringserve::Client& client = *connected;
  catch_signals({SIGINT});
  const bool interactive = ::isatty(STDIN_FILENO) == 1;
  std::vector<ringserve::ChatMessage> history;
  if (!system_prompt.empty()) history.push_back({"system", system_prompt});
  const size_t kept = history.size();  // what /reset keeps
  LineReader reader;
  std::string line;
  for (;;) {
    if (interactive) std::cout << "> " << std::flush;
    const LineReader::Result r = reader.next(&line);
    if (r == LineReader::Result::kEnd || r == LineReader::Result::kInterrupted) {
      if (interactive) std::cout << "\n" << std::flush;
      return 0;
    }
    if (r == LineReader::Result::kError) {
      std::fprintf(stderr, "ringctl: reading stdin: %s\n", std::strerror(errno));
      return 1;
    }
    if (line == "/reset") {
      history.resize(kept);
      if (interactive) std::fputs("(conversation cleared)\n", stderr);
      continue;
    }
    if (line.empty()) continue;
    history.push_back({"user", line});
    std::string text;
    switch (answer(client, history, params, &text)) {
      case Answer::kFatal:
        return 1;
      case Answer::kFailed:
        history.pop_back();
        break;
      case Answer::kCancelled:
        if (text.empty()) {
          history.pop_back();
          break;
        }
        history.push_back({"assistant", text});
        break;
      case Answer::kDone:
        history.push_back({"assistant", text});
        break;
    }
  }
}

}  // namespace ringctl
