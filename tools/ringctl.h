// ringctl's internal interface: the commands that live in their own files (ringctl_metrics.cc,
// ringctl_chat.cc, ringctl_list.cc) and the helpers they share with ringctl.cc.
#pragma once

#include <string>
#include <vector>

#include "ringserve/client.h"
#include "tools/ringctl_args.h"

namespace ringctl {

int usage(int rc);
int fail(const ringserve::Status& s);

// Parses the sampling and limit flag at args[*i] (--max-tokens, --temperature, --stop, ...)
// into *params, advancing *i past its value. kNotMine: args[*i] is no such flag. kError: the
// value is missing or not a whole number in the flag's range (tools/ringctl_args.h); the
// message is printed, and the caller exits 2.
enum class FlagResult { kNotMine, kOk, kError };
FlagResult parse_generate_flag(const std::vector<std::string>& args, size_t* i,
                               ringserve::GenerateParams* params);
// The value after a flag that takes one (args[*i] is the flag); false with a message if none.
bool flag_value(const std::vector<std::string>& args, size_t* i, std::string* out);

// SIGINT / SIGTERM as events rather than deaths: the handler records the signal and writes a
// byte into a pipe, so a command can poll() the pipe next to its other file descriptors and
// never miss a signal that lands between a check and a sleep.
void catch_signals(const std::vector<int>& signals);
int signal_fd();       // readable while a caught signal is pending
int pending_signal();  // the last caught signal not yet taken, or 0
int take_signal();     // pending_signal(), then clears it and drains the pipe

// `ringctl metrics`; connects itself (the loop mode reconnects after a daemon restart).
int metrics(const std::string& name, const std::vector<std::string>& args);
// `ringctl chat`; reads its flags, then connects (a bad flag is reported as such, daemon or not).
int chat(const std::string& name, const std::vector<std::string>& args);
// `ringctl list`: the daemons on this machine, from their segments (tools/ringctl_list.cc).
int list(const std::vector<std::string>& args);

}  // namespace ringctl
