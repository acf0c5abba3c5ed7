#include "trainer/launcher.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>

#include "distributed/errors.h"

extern char** environ;

namespace ember {

namespace {

// The program's own argv, as the kernel recorded it (NUL-separated).
std::vector<std::string> own_argv() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  const std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> out;
  std::string cur;
  for (char c : all) {
    if (c == '\0') {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  if (out.empty())
    fail<distributed::DistError>("Trainer(strategy=\"ddp\")", "cannot read /proc/self/cmdline");
  return out;
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const char* name = strsignal(WTERMSIG(status));
    return "was killed by signal " + std::to_string(WTERMSIG(status)) + " (" + (name ? name : "?") +
           ")";
  }
  return "ended with status " + std::to_string(status);
}

bool failed(int status) { return !WIFEXITED(status) || WEXITSTATUS(status) != 0; }

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  if (*end != '\0' || x < 0)
    fail<ValueError>("Trainer(strategy=\"ddp\")", name, " must be a number >= 0, got \"", v, "\"");
  return static_cast<int>(x);
}

}  // namespace

int find_free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) fail<distributed::DistError>("find_free_port", "socket: ", std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const std::string why = std::strerror(errno);
    ::close(fd);
    fail<distributed::DistError>("find_free_port", why);
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

distributed::ClusterEnvironment SubprocessLauncher::launch(int devices, int num_nodes) {
  const char* op = "Trainer(strategy=\"ddp\")";
  distributed::ClusterEnvironment env;
  env.kind = distributed::ClusterKind::torchelastic;  // what the children will detect
  env.node_rank = env_int("NODE_RANK", 0);
  if (env.node_rank >= num_nodes)
    fail<ValueError>(op, "NODE_RANK=", env.node_rank, " but num_nodes=", num_nodes);
  const char* addr = std::getenv("MASTER_ADDR");
  env.master_addr = addr && *addr ? addr : "127.0.0.1";
  env.port = env_int("MASTER_PORT", 0);
  if (env.port == 0) {
    if (num_nodes > 1)
      fail<ValueError>(op, "num_nodes=", num_nodes,
                       ": set MASTER_ADDR and MASTER_PORT (rank 0's host and a free port) on "
                       "every node");
    env.port = find_free_port();
  }
  env.world_size = devices * num_nodes;
  env.local_world_size = devices;
  env.rank = env.node_rank * devices;
  env.local_rank = 0;

  auto vars = [&](int local_rank) {
    return std::map<std::string, std::string>{{"MASTER_ADDR", env.master_addr},
                                              {"MASTER_PORT", std::to_string(env.port)},
                                              {"WORLD_SIZE", std::to_string(env.world_size)},
                                              {"RANK", std::to_string(env.rank + local_rank)},
                                              {"LOCAL_RANK", std::to_string(local_rank)},
                                              {"LOCAL_WORLD_SIZE", std::to_string(devices)},
                                              {"NODE_RANK", std::to_string(env.node_rank)},
                                              {"GROUP_RANK", std::to_string(env.node_rank)}};
  };

  // One node needs the loopback interface only; Gloo would otherwise bind to the address
  // the host's name resolves to, which some machines do not route (torch's variable).
  if (num_nodes == 1 && !std::getenv("GLOO_SOCKET_IFNAME")) ::setenv("GLOO_SOCKET_IFNAME", "lo", 1);
  const std::vector<std::string> argv_s = own_argv();
  std::vector<char*> argv;
  for (const auto& a : argv_s) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (int local = 1; local < devices; ++local) {
    // The parent's environment with the rank's variables replacing any it had.
    const auto mine = vars(local);
    std::vector<std::string> env_s;
    for (char** e = environ; *e; ++e) {
      const std::string kv = *e;
      const std::string key = kv.substr(0, kv.find('='));
      if (!mine.count(key)) env_s.push_back(kv);
    }
    for (const auto& [k, v] : mine) env_s.push_back(k + "=" + v);
    std::vector<char*> envp;
    for (const auto& s : env_s) envp.push_back(const_cast<char*>(s.c_str()));
    envp.push_back(nullptr);
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, argv.data(), envp.data());
    if (rc != 0)
      fail<distributed::DistError>(op, "cannot start local rank ", local, ": ", std::strerror(rc));
    children_.push_back({env.rank + local, pid});
  }
  // This process is local rank 0 from now on, also for later Trainers and
  // init_process_group().
  for (const auto& [k, v] : vars(0)) ::setenv(k.c_str(), v.c_str(), 1);
  return env;
}

std::string SubprocessLauncher::describe_failures() const {
  std::string out;
  for (const Child& c : children_) {
    if (!c.done || !failed(c.status)) continue;
    if (!out.empty()) out += "; ";
    out += "rank " + std::to_string(c.rank) + " (pid " + std::to_string(c.pid) + ") " +
           describe_status(c.status);
  }
  return out;
}

std::string SubprocessLauncher::failed_children() {
  for (Child& c : children_) {
    if (c.done) continue;
    int status = 0;
    if (::waitpid(c.pid, &status, WNOHANG) == c.pid) {
      c.done = true;
      c.status = status;
    }
  }
  return describe_failures();
}

void SubprocessLauncher::join() {
  for (Child& c : children_) {
    if (c.done) continue;
    int status = 0;
    pid_t r;
    do {
      r = ::waitpid(c.pid, &status, 0);
    } while (r < 0 && errno == EINTR);
    c.done = true;
    c.status = r == c.pid ? status : 0;
  }
  const std::string failures = describe_failures();
  if (!failures.empty())
    fail<distributed::DistError>("Trainer(strategy=\"ddp\")",
                                 "a process the launcher started failed: ", failures);
}

void SubprocessLauncher::kill() {
  for (Child& c : children_) {
    if (c.done) continue;
    ::kill(c.pid, SIGKILL);
    int status = 0;
    while (::waitpid(c.pid, &status, 0) < 0 && errno == EINTR) {
    }
    c.done = true;
    c.status = 0;  // ended by this process: not the child's failure
  }
}

SubprocessLauncher::~SubprocessLauncher() {
  try {
    join();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ember: %s\n", e.what());
  }
}

}  // namespace ember
