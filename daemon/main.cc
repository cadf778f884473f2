// ringserved: the ringserve daemon.
//   ringserved [--config FILE] [--name NAME] [--log-file PATH] [--set KEY=VALUE]...
// Without a config it runs the built-in default. SIGTERM/SIGINT stop it gracefully.
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include <spdlog/spdlog.h>

#include "config/config.h"
#include "daemon/daemon_log.h"
#include "daemon/echo_backend.h"
#include "daemon/instance_lock.h"
#include "daemon/model_backend.h"
#include "daemon/server.h"
#include "engine/model/builtin_model.h"
#include "engine/model/model_weights.h"
#include "shm/segment.h"

namespace {

// A stop signal can come at any point of the startup (a service manager stopping a daemon
// that is still loading its model), not only once the server runs. The handler records it;
// main checks the record after the model load and again once the server is published here.
// Both are lock-free atomics, so the handler is async-signal-safe.
std::atomic<bool> g_stop_signalled{false};
std::atomic<ringserve::daemon::Server*> g_server{nullptr};

void on_stop_signal(int) {
  g_stop_signalled.store(true);
  if (ringserve::daemon::Server* server = g_server.load()) server->request_stop();
}

void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  // Restart interrupted system calls: a signal during the model load must not turn a read of
  // the weights into a load error.
  sa.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

// The path as status shows it: absolute (a client runs elsewhere), symbolic links kept.
std::string absolute_path(const std::string& path) {
  std::error_code ec;
  const std::filesystem::path p = std::filesystem::absolute(path, ec);
  return ec ? path : p.lexically_normal().string();
}

void print_usage(FILE* out) {
  std::fputs(
      "usage: ringserved [--config FILE] [--name NAME] [--log-file PATH] [--set KEY=VALUE]...\n"
      "  --config FILE    TOML config (see config/ringserve.example.toml); default: built-in\n"
      "  --name NAME      daemon name (clients connect by it); overrides daemon.name\n"
      "  --set KEY=VALUE  override one config key, e.g. --set model.backend=echo (repeatable)\n"
      "  --log-file PATH  append the log to PATH; stderr gets warnings and errors only.\n"
      "                   Without it, a daemon whose stderr is a terminal logs to\n"
      "                   $XDG_STATE_HOME/ringserve/NAME.log (~/.local/state/ringserve/) and,\n"
      "                   once started, shows only warnings and errors in the terminal;\n"
      "                   otherwise (systemd, a redirect) everything goes to stderr.\n",
      out);
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path;
  std::string name;
  std::vector<std::string> overrides;
  std::string log_file;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&](const char* flag) -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "ringserved: %s needs a value\n", flag);
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--config") {
      config_path = value("--config");
    } else if (arg == "--name") {
      name = value("--name");
    } else if (arg == "--log-file") {
      log_file = value("--log-file");
    } else if (arg == "--set") {
      overrides.emplace_back(value("--set"));
    } else if (arg.rfind("--set=", 0) == 0) {
      overrides.emplace_back(arg.substr(6));
    } else if (arg == "--help" || arg == "-h") {
      print_usage(stdout);
      return 0;
    } else {
      std::fprintf(stderr, "ringserved: unknown argument '%s'\n", arg.c_str());
      print_usage(stderr);
      return 2;
    }
  }

  ringserve::config::Config config;
  const auto loaded = ringserve::config::load_config(config_path, overrides, &config);
  if (!loaded.ok) {
    std::fprintf(stderr, "ringserved: %s\n", loaded.error.c_str());
    return 2;
  }
  if (!name.empty()) config.daemon.name = name;
  if (!ringserve::shm::daemon_name_is_valid(config.daemon.name)) {
    std::fprintf(stderr, "ringserved: daemon name '%s' must be 1-64 characters of [A-Za-z0-9_.-]\n",
                 config.daemon.name.c_str());
    return 2;
  }

  ringserve::daemon::DaemonLog log;
  std::string log_error;
  if (!log.open(config.daemon.name, log_file, config.daemon.log_level, &log_error)) {
    std::fprintf(stderr, "ringserved: %s\n", log_error.c_str());
    return 2;
  }
  // Model loading (per-shard progress) reports through the daemon's log.
  ringserve::model::set_load_log([](ringserve::model::LoadLogLevel level, const std::string& line) {
    spdlog::log(
        level == ringserve::model::LoadLogLevel::kInfo ? spdlog::level::info : spdlog::level::debug,
        "model: {}", line);
  });

  install_stop_handlers();
  static_assert(std::atomic<bool>::is_always_lock_free);
  static_assert(std::atomic<ringserve::daemon::Server*>::is_always_lock_free);

  ringserve::daemon::InstanceLock lock;
  std::string error;
  if (!lock.acquire(config.daemon.name, config.daemon.lock_dir, &error)) {
    std::fprintf(stderr, "ringserved: %s\n", error.c_str());
    return 1;
  }

  std::unique_ptr<ringserve::daemon::Backend> backend;
  switch (config.model.backend) {
    case ringserve::config::Backend::kEcho:
      backend = std::make_unique<ringserve::daemon::EchoBackend>(config.model.echo_step_delay_us,
                                                                 config.scheduler.max_concurrent);
      break;
    case ringserve::config::Backend::kTorch: {
      ringserve::daemon::ModelBackendOptions options;
      options.model_dir =
          config.model.path.empty() ? ringserve::model::builtin_model_dir() : config.model.path;
      options.model_name =
          config.model.path.empty() ? "built-in" : absolute_path(config.model.path);
      options.device = config.model.device;
      options.dtype = config.model.dtype;
      options.threads = static_cast<int>(config.model.threads);
      options.chat_template = config.model.chat_template;
      options.max_sequences = config.scheduler.max_concurrent;
      options.max_seq_len = config.model.max_seq_len;
      options.max_batch_tokens = config.scheduler.max_batch_tokens;
      options.kv_cache_bytes = uint64_t{config.model.kv_cache_mb} << 20;
      options.prefix_cache = config.scheduler.prefix_cache;
      std::unique_ptr<ringserve::daemon::ModelBackend> model;
      if (!ringserve::daemon::ModelBackend::create(options, &model, &error)) {
        std::fprintf(stderr, "ringserved: model: %s\n", error.c_str());
        return 1;
      }
      spdlog::info("model {}", model->describe());
      backend = std::move(model);
      break;
    }
  }

  if (g_stop_signalled.load()) {
    spdlog::info("stop signal during startup; exiting before serving");
    return 0;
  }

  ringserve::daemon::Server server(config, std::move(backend));
  if (!server.start(&error)) {
    std::fprintf(stderr, "ringserved: %s\n", error.c_str());
    return 1;
  }
  // Publish the server, then look at the record: a signal that came before the store is seen
  // here, one after it reaches the server through the handler (both are sequentially
  // consistent, so at least one of the two sees the other).
  log.started();
  g_server.store(&server);
  if (g_stop_signalled.load()) server.request_stop();
  server.run();
  g_server.store(nullptr);
  return 0;
}
