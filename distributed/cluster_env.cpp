#include "distributed/cluster_env.h"

#include <algorithm>
#include <cstdlib>

#include "tensor/error.h"

namespace ember::distributed {

const char* to_string(ClusterKind kind) {
  switch (kind) {
    case ClusterKind::none: return "none";
    case ClusterKind::torchelastic: return "torchelastic";
    case ClusterKind::slurm: return "slurm";
    case ClusterKind::mpi: return "mpi";
  }
  return "?";
}

EnvLookup process_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  };
}

namespace {

// The leading integer of `value` ("4(x2)" -> 4 when `prefix_ok`); ValueError naming the
// variable otherwise.
int parse_int(const std::string& name, const std::string& value, bool prefix_ok = false) {
  size_t used = 0;
  int v = 0;
  try {
    v = std::stoi(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || (!prefix_ok && used != value.size())) {
    fail<ValueError>("detect_cluster_environment", name, "='", value, "' is not an integer");
  }
  return v;
}

struct Reader {
  const EnvLookup& env;
  bool has(const std::string& name) const { return env(name).has_value(); }
  std::optional<int> int_opt(const std::string& name) const {
    auto v = env(name);
    if (!v) return std::nullopt;
    return parse_int(name, *v);
  }
  int integer(const std::string& name, int fallback) const {
    return int_opt(name).value_or(fallback);
  }
  std::string str(const std::string& name, const std::string& fallback) const {
    return env(name).value_or(fallback);
  }
};

void validate(const ClusterEnvironment& e, const char* rank_var, const char* size_var) {
  const char* op = "detect_cluster_environment";
  if (e.world_size < 1) fail<ValueError>(op, size_var, " must be >= 1, got ", e.world_size);
  if (e.rank < 0 || e.rank >= e.world_size) {
    fail<ValueError>(op, rank_var, "=", e.rank, " is not in [0, ", size_var, "=", e.world_size,
                     ")");
  }
  if (e.local_world_size < 1 || e.local_rank < 0 || e.local_rank >= e.local_world_size) {
    fail<ValueError>(op, "local rank ", e.local_rank, " is not in [0, local world size ",
                     e.local_world_size, ")");
  }
  if (e.port < 1 || e.port > 65535) {
    fail<ValueError>(op, "MASTER_PORT=", e.port, " is not a port (1..65535)");
  }
}

}  // namespace

std::string slurm_first_host(const std::string& nodelist) {
  // Lightning's resolve_root_node_address, without std::regex (GCC 12 warns inside
  // libstdc++'s regex compiler at -O1): re.sub(r"\[(.*?)[,-].*\]", r"\1") keeps what
  // precedes the first ',' or '-' after the first '[' (when a ']' follows it) and drops the
  // rest up to the last ']'; then every '[' goes; then the first of a space- or
  // comma-separated list.
  std::string s = nodelist;
  const size_t open = s.find('[');
  if (open != std::string::npos) {
    const size_t sep = s.find_first_of(",-", open + 1);
    const size_t close = s.rfind(']');
    if (sep != std::string::npos && close != std::string::npos && close > sep)
      s = s.substr(0, open) + s.substr(open + 1, sep - open - 1) + s.substr(close + 1);
  }
  s.erase(std::remove(s.begin(), s.end(), '['), s.end());
  s = s.substr(0, s.find(' '));
  return s.substr(0, s.find(','));
}

ClusterEnvironment detect_cluster_environment(const EnvLookup& env) {
  Reader r{env};
  ClusterEnvironment e;
  if (r.has("RANK") && r.has("WORLD_SIZE")) {
    e.kind = ClusterKind::torchelastic;
    e.rank = r.integer("RANK", 0);
    e.world_size = r.integer("WORLD_SIZE", 1);
    e.local_rank = r.integer("LOCAL_RANK", 0);
    e.local_world_size = r.integer("LOCAL_WORLD_SIZE", e.world_size);
    e.node_rank = r.int_opt("GROUP_RANK").value_or(r.integer("NODE_RANK", 0));
    e.master_addr = r.str("MASTER_ADDR", e.master_addr);
    e.port = r.integer("MASTER_PORT", e.port);
    validate(e, "RANK", "WORLD_SIZE");
    return e;
  }
  const std::string job_name = r.str("SLURM_JOB_NAME", "");
  if (r.has("SLURM_NTASKS") && job_name != "bash" && job_name != "interactive") {
    e.kind = ClusterKind::slurm;
    e.rank = r.integer("SLURM_PROCID", 0);
    e.world_size = r.integer("SLURM_NTASKS", 1);
    e.local_rank = r.integer("SLURM_LOCALID", 0);
    e.node_rank = r.integer("SLURM_NODEID", 0);
    // "4" or "4(x2)": the tasks of the first nodes.
    if (auto per_node = env("SLURM_NTASKS_PER_NODE")) {
      e.local_world_size = parse_int("SLURM_NTASKS_PER_NODE", *per_node, true);
    } else if (auto nodes = r.int_opt("SLURM_NNODES"); nodes && *nodes > 0) {
      e.local_world_size = std::max(1, e.world_size / *nodes);
    } else {
      e.local_world_size = e.world_size;
    }
    if (auto addr = env("MASTER_ADDR")) {
      e.master_addr = *addr;
    } else if (auto nodelist = env("SLURM_NODELIST")) {
      e.master_addr = slurm_first_host(*nodelist);
    } else {
      e.master_addr = "127.0.0.1";
    }
    int port = 12910;
    if (auto job = env("SLURM_JOB_ID")) {
      const std::string tail = job->size() > 4 ? job->substr(job->size() - 4) : *job;
      port = parse_int("SLURM_JOB_ID", tail) + 15000;
    }
    e.port = r.integer("MASTER_PORT", port);
    validate(e, "SLURM_PROCID", "SLURM_NTASKS");
    return e;
  }
  if (r.has("OMPI_COMM_WORLD_SIZE")) {
    e.kind = ClusterKind::mpi;
    e.rank = r.integer("OMPI_COMM_WORLD_RANK", 0);
    e.world_size = r.integer("OMPI_COMM_WORLD_SIZE", 1);
    e.local_rank = r.integer("OMPI_COMM_WORLD_LOCAL_RANK", 0);
    e.local_world_size = r.integer("OMPI_COMM_WORLD_LOCAL_SIZE", e.world_size);
    e.node_rank = r.integer("OMPI_COMM_WORLD_NODE_RANK", 0);
    if (!r.has("MASTER_ADDR") && e.local_world_size < e.world_size) {
      fail<ValueError>("detect_cluster_environment", "an Open MPI job over several nodes (",
                       e.world_size, " ranks, ", e.local_world_size,
                       " on this node) needs MASTER_ADDR, the host of rank 0 (mpirun -x "
                       "MASTER_ADDR=...)");
    }
    e.master_addr = r.str("MASTER_ADDR", e.master_addr);
    e.port = r.integer("MASTER_PORT", e.port);
    validate(e, "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE");
    return e;
  }
  e.master_addr = r.str("MASTER_ADDR", e.master_addr);
  e.port = r.integer("MASTER_PORT", e.port);
  validate(e, "RANK", "WORLD_SIZE");
  return e;
}

}  // namespace ember::distributed
