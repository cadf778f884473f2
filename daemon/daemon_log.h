// The daemon's log: where its lines go, so that a daemon started in a terminal does not write
// into the answers printed there.
//
//   --log-file PATH given      every line (daemon.log_level) appended to PATH; stderr gets the
//                              warnings and errors only.
//   stderr is a terminal       every line to $XDG_STATE_HOME/ringserve/NAME.log (by default
//                              ~/.local/state/ringserve/NAME.log, else
//                              /tmp/ringserve-UID/NAME.log); the terminal gets the start-up lines,
//                              then one line saying where the log goes, then warnings and errors
//                              only.
//   otherwise                  (systemd: journald; a redirect to a file; a pipe) every line to
//                              stderr, as always.
#pragma once

#include <string>

namespace ringserve::daemon {

class DaemonLog {
 public:
  // Installs the default logger. False with *error when the log file cannot be opened.
  bool open(const std::string& daemon_name, const std::string& log_file, const std::string& level,
            std::string* error);
  // The daemon is ready: a terminal hears from it only about what goes wrong from now on.
  void started();
  const std::string& file() const { return file_; }

 private:
  std::string file_;  // "" = stderr only
  bool quiet_terminal_after_start_ = false;
};

}  // namespace ringserve::daemon
