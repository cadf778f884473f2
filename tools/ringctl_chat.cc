// ringctl chat: a conversation in the terminal. Each line of stdin is a user message; the
// whole history (system, user and assistant turns) goes to the daemon with Client::chat, and
// the answer streams to stdout as it arrives, ended by a newline, then joins the history.
//
// Ctrl-C during an answer cancels it. What was shown of it stays in the history, so the model
// sees what the user saw (/reset forgets it); an answer cancelled before any text drops its
// question too. Ctrl-C at the prompt, or the end of stdin, exits 0. A request that fails for
// reasons of its own (queue full, timeout) is reported on stderr and its question dropped; the
// conversation goes on. Errors that would repeat every turn (the daemon gone, bad parameters)
// end ringctl with 1.
//
// A conversation that outgrew the context (the daemon answers "prompt too long") loses its
// oldest turns, a question and its answer at a time, the system prompt kept, and is sent again
// until it fits (a refused try costs the daemon a tokenization, no model step); one line on
// stderr says how many turns went, with the daemon's numbers. Only whole turns go, so what the
// model sees stays a conversation, and the oldest, so the recent ones it answers from stay.
// Should the question not fit even with every earlier turn gone, it is reported and dropped as
// any failed request is, and the conversation is kept as it was: the turns were dropped only
// to make room for that question.
//
// A line that starts with '/' is a command for ringctl, never a message: /help lists the
// commands (on stdout), /reset forgets the conversation but the system prompt, /quit and /exit
// end the chat (exit 0, lines after them unread). An unknown command is reported on stderr and
// not sent, so a mistyped "/qiut" never reaches the model. A message that must start with '/'
// is written with two: "//etc is a directory" sends "/etc is a directory".
//
// stdin is read with poll() next to the signal pipe rather than with iostreams, so Ctrl-C at
// the prompt is seen at once and piped input (tests, scripts) works the same as a terminal;
// the "> " prompt is printed only when stdin is a terminal.
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <csignal>
#include <cstddef>
#include <cstdint>
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

enum class Answer {
  kDone,
  kCancelled,
  kTooLong,  // prompt too long, before any text; reported by the caller
  kFailed,
  kFatal,
};

// Errors a later turn could escape; the others would come back every time.
bool turn_error(ringserve::ErrorCode code) {
  using ringserve::ErrorCode;
  return code == ErrorCode::kQueueFull || code == ErrorCode::kPromptTooLong ||
         code == ErrorCode::kEmptyPrompt || code == ErrorCode::kInvalidUtf8 ||
         code == ErrorCode::kTimeout;
}

Answer report(const ringserve::Status& s) {
  fail(s);
  return turn_error(s.code()) ? Answer::kFailed : Answer::kFatal;
}

Answer cancelled() {
  std::fputs("ringctl: answer cancelled\n", stderr);
  return Answer::kCancelled;
}

// Streams one answer to stdout into *text. `notice` (if any) goes to stderr once the answer
// shows it was taken (its first token, or its end), before the answer's text. A prompt too
// long comes back as kTooLong with the daemon's words in *refusal, not reported.
Answer answer(ringserve::Client& client, const std::vector<ringserve::ChatMessage>& history,
              const ringserve::GenerateParams& params, const std::string& notice, std::string* text,
              ringserve::Status* refusal) {
  std::unique_ptr<ringserve::Stream> stream;
  ringserve::Status s = client.chat(history, params, &stream);
  if (s.code() == ringserve::ErrorCode::kPromptTooLong) {
    *refusal = s;
    return Answer::kTooLong;
  }
  if (!s.ok()) return report(s);
  bool announced = notice.empty();
  const auto announce = [&] {
    if (!announced) std::fprintf(stderr, "%s\n", notice.c_str());
    announced = true;
  };
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
      announce();
      *text += token.text;
      std::cout << token.text << std::flush;
    } else if (s.code() != ringserve::ErrorCode::kTimeout || stream->done()) {
      break;
    }
  }
  // A Ctrl-C that came as the answer ended was meant for the answer, not for the prompt.
  take_signal();
  if (s.code() == ringserve::ErrorCode::kPromptTooLong && text->empty()) {
    if (cancelling) return cancelled();  // the user no longer wants this answer
    *refusal = s;
    return Answer::kTooLong;
  }
  if (!s.end_of_stream()) {
    if (!text->empty()) std::cout << "\n" << std::flush;
    return report(s);
  }
  announce();
  std::cout << "\n" << std::flush;
  if (stream->finish_reason() == ringserve::FinishReason::kCancelled) return cancelled();
  return Answer::kDone;
}

// "the conversation outgrew the context (N tokens, context M): dropped the oldest K turns",
// with the numbers of the first refusal when its words carry them.
std::string outgrew_notice(const std::string& refusal, size_t dropped) {
  std::string numbers;
  uint64_t size = 0;
  uint64_t limit = 0;
  // The daemon's words (daemon/model_backend.cc), and the client's for a conversation larger
  // than the request slot (client-lib/submit.cc); other words give no numbers.
  if (std::sscanf(refusal.c_str(), "prompt is %" SCNu64 " tokens; the context holds %" SCNu64,
                  &size, &limit) == 2) {
    numbers = " (" + std::to_string(size) + " tokens, context " + std::to_string(limit) + ")";
  } else if (std::sscanf(refusal.c_str(),
                         "prompt is %" SCNu64 " bytes with its stop strings, the limit is %" SCNu64,
                         &size, &limit) == 2) {
    numbers = " (" + std::to_string(size) + " bytes, limit " + std::to_string(limit) + ")";
  }
  return "ringctl: the conversation outgrew the context" + numbers + ": dropped the oldest " +
         (dropped == 1 ? std::string("turn") : std::to_string(dropped) + " turns");
}

// Answers the question that ends *history, dropping its oldest turns after the first `kept`
// messages (the system prompt) while the daemon finds it too long. *history becomes what was
// sent only when an answer came (see the header comment).
Answer answer_fitting(ringserve::Client& client, std::vector<ringserve::ChatMessage>* history,
                      size_t kept, const ringserve::GenerateParams& params, std::string* text) {
  std::vector<ringserve::ChatMessage> sent = *history;
  size_t dropped = 0;
  std::string first_refusal;
  for (;;) {
    ringserve::Status refusal;
    const std::string notice = dropped == 0 ? "" : outgrew_notice(first_refusal, dropped);
    const Answer a = answer(client, sent, params, notice, text, &refusal);
    if (a != Answer::kTooLong) {
      if (a == Answer::kDone || (a == Answer::kCancelled && !text->empty())) {
        *history = std::move(sent);
      }
      return a;
    }
    if (dropped == 0) first_refusal = refusal.message();
    // After `kept`, turns alternate user / assistant and the question comes last.
    if (sent.size() < kept + 3) {
      fail(refusal);
      if (dropped > 0) {
        std::fputs(
            "ringctl: too long even without the earlier turns: the question is dropped, the "
            "conversation kept\n",
            stderr);
      }
      return Answer::kFailed;
    }
    if (take_signal() != 0) return cancelled();  // Ctrl-C between two tries
    sent.erase(sent.begin() + static_cast<std::ptrdiff_t>(kept),
               sent.begin() + static_cast<std::ptrdiff_t>(kept + 2));
    ++dropped;
  }
}

constexpr const char* kCommands =
    "commands:\n"
    "  /help          this list\n"
    "  /reset         forget the conversation (the --system prompt stays)\n"
    "  /quit, /exit   end the chat (as Ctrl-D or Ctrl-C at the prompt do)\n"
    "  //TEXT         send TEXT starting with one '/' (\"//etc\" sends \"/etc\")\n"
    "Ctrl-C while an answer streams cancels it; what was shown of it stays in the conversation.\n";

enum class Command { kNone, kHelp, kReset, kQuit, kUnknown };

// What `line` asks of ringctl; kNone for a message (which "//" turns into one that starts with
// a single '/').
Command command_of(std::string* line) {
  if (line->empty() || (*line)[0] != '/') return Command::kNone;
  if (line->starts_with("//")) {
    line->erase(0, 1);
    return Command::kNone;
  }
  // The command is the first word: "/quit " and "/reset now" are still commands.
  const std::string word = line->substr(0, line->find_first_of(" \t"));
  if (word == "/help") return Command::kHelp;
  if (word == "/reset") return Command::kReset;
  if (word == "/quit" || word == "/exit") return Command::kQuit;
  *line = word;
  return Command::kUnknown;
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
    switch (command_of(&line)) {
      case Command::kNone:
        break;
      case Command::kHelp:
        std::cout << kCommands << std::flush;
        continue;
      case Command::kReset:
        history.resize(kept);
        if (interactive) std::fputs("(conversation cleared)\n", stderr);
        continue;
      case Command::kQuit:
        return 0;
      case Command::kUnknown:
        std::fprintf(stderr,
                     "ringctl: unknown command '%s' (/help lists the commands; start a message "
                     "with // to send one that begins with /)\n",
                     line.c_str());
        continue;
    }
    if (line.empty()) continue;
    history.push_back({"user", line});
    std::string text;
    switch (answer_fitting(client, &history, kept, params, &text)) {
      case Answer::kFatal:
        return 1;
      case Answer::kFailed:
      case Answer::kTooLong:  // answer_fitting reports it as kFailed
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
