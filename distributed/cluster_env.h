// Where this process sits in a job: its ranks and the rendezvous address, read from the
// launcher's environment as Lightning's cluster environments do.
//
//   torchrun (TorchElastic)  RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, GROUP_RANK or
//                            NODE_RANK, MASTER_ADDR, MASTER_PORT
//   SLURM (srun)             SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, SLURM_NODEID,
//                            SLURM_NTASKS_PER_NODE; MASTER_ADDR, else the first host of
//                            SLURM_NODELIST; MASTER_PORT, else 15000 + the last 4 digits
//                            of SLURM_JOB_ID, else 12910 (Lightning's rule)
//   Open MPI (mpirun)        OMPI_COMM_WORLD_RANK, OMPI_COMM_WORLD_SIZE,
//                            OMPI_COMM_WORLD_LOCAL_RANK, OMPI_COMM_WORLD_LOCAL_SIZE,
//                            OMPI_COMM_WORLD_NODE_RANK; MASTER_ADDR (else 127.0.0.1, and
//                            required when the job spans nodes: ember does not talk MPI to
//                            learn rank 0's host) and MASTER_PORT (else 29500)
//   none of them             rank 0 of 1 (MASTER_ADDR/MASTER_PORT if set, else
//                            127.0.0.1:29500)
//
// The order of detection: torchrun's contract first (RANK and WORLD_SIZE set: torchrun, or
// any launcher that follows torch.distributed's env:// contract), then SLURM (SLURM_NTASKS
// set and SLURM_JOB_NAME not "bash" or "interactive": Lightning's test for srun), then
// Open MPI (OMPI_COMM_WORLD_SIZE set).
#pragma once

#include <functional>
#include <optional>
#include <string>

namespace ember::distributed {

enum class ClusterKind { none, torchelastic, slurm, mpi };
const char* to_string(ClusterKind kind);

struct ClusterEnvironment {
  ClusterKind kind = ClusterKind::none;
  int rank = 0;  // global rank
  int world_size = 1;
  int local_rank = 0;  // rank among the processes of this node
  int local_world_size = 1;
  int node_rank = 0;
  std::string master_addr = "127.0.0.1";
  int port = 29500;  // MASTER_PORT
};

// The variable's value, or nullopt when it is unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
// getenv.
EnvLookup process_env();

// Reads the environment through `env` (tests pass a map). Throws ValueError naming the
// variable when a detected environment has a missing or malformed value (RANK=abc,
// RANK >= WORLD_SIZE, ...).
ClusterEnvironment detect_cluster_environment(const EnvLookup& env = process_env());

// "node[001-004,007],gpu5" -> "node001" (the first host of a SLURM node list).
std::string slurm_first_host(const std::string& nodelist);

}  // namespace ember::distributed
