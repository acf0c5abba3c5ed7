// The launchers' environments: torchrun, SLURM, Open MPI (no processes).
#include <gtest/gtest.h>

#include <map>

#include "distributed/cluster_env.h"
#include "tensor/error.h"

using namespace ember;
using namespace ember::distributed;

namespace {

EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

}  // namespace

TEST(ClusterEnvironment, NoneIsRankZeroOfOne) {
  auto e = detect_cluster_environment(env_of({}));
  EXPECT_EQ(e.kind, ClusterKind::none);
  EXPECT_EQ(e.rank, 0);
  EXPECT_EQ(e.world_size, 1);
  EXPECT_EQ(e.master_addr, "127.0.0.1");
  EXPECT_EQ(e.port, 29500);
}

TEST(ClusterEnvironment, Torchrun) {
  auto e = detect_cluster_environment(env_of({{"RANK", "5"},
                                              {"WORLD_SIZE", "8"},
                                              {"LOCAL_RANK", "1"},
                                              {"LOCAL_WORLD_SIZE", "4"},
                                              {"GROUP_RANK", "1"},
                                              {"MASTER_ADDR", "node7"},
                                              {"MASTER_PORT", "1234"},
                                              {"SLURM_NTASKS", "99"}}));  // torchrun wins
  EXPECT_EQ(e.kind, ClusterKind::torchelastic);
  EXPECT_EQ(e.rank, 5);
  EXPECT_EQ(e.world_size, 8);
  EXPECT_EQ(e.local_rank, 1);
  EXPECT_EQ(e.local_world_size, 4);
  EXPECT_EQ(e.node_rank, 1);
  EXPECT_EQ(e.master_addr, "node7");
  EXPECT_EQ(e.port, 1234);
  auto n =
      detect_cluster_environment(env_of({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"NODE_RANK", "3"}}));
  EXPECT_EQ(n.node_rank, 3);
  EXPECT_EQ(n.local_world_size, 2);
}

TEST(ClusterEnvironment, TorchrunErrorsNameTheVariable) {
  try {
    detect_cluster_environment(env_of({{"RANK", "abc"}, {"WORLD_SIZE", "2"}}));
    FAIL();
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("RANK='abc'"), std::string::npos) << e.what();
  }
  try {
    detect_cluster_environment(env_of({{"RANK", "2"}, {"WORLD_SIZE", "2"}}));
    FAIL();
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("RANK=2 is not in [0, WORLD_SIZE=2)"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(detect_cluster_environment(
                   env_of({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "70000"}})),
               ValueError);
}

TEST(ClusterEnvironment, Slurm) {
  auto e = detect_cluster_environment(env_of({{"SLURM_NTASKS", "8"},
                                              {"SLURM_PROCID", "6"},
                                              {"SLURM_LOCALID", "2"},
                                              {"SLURM_NODEID", "1"},
                                              {"SLURM_NTASKS_PER_NODE", "4(x2)"},
                                              {"SLURM_JOB_ID", "1234567"},
                                              {"SLURM_JOB_NAME", "train"},
                                              {"SLURM_NODELIST", "gpu[017-020,031],cpu1"}}));
  EXPECT_EQ(e.kind, ClusterKind::slurm);
  EXPECT_EQ(e.rank, 6);
  EXPECT_EQ(e.world_size, 8);
  EXPECT_EQ(e.local_rank, 2);
  EXPECT_EQ(e.local_world_size, 4);
  EXPECT_EQ(e.node_rank, 1);
  EXPECT_EQ(e.master_addr, "gpu017");
  EXPECT_EQ(e.port, 15000 + 4567);
  // MASTER_ADDR and MASTER_PORT win; an interactive allocation is not an srun job.
  auto m = detect_cluster_environment(env_of({{"SLURM_NTASKS", "2"},
                                              {"SLURM_PROCID", "1"},
                                              {"SLURM_NODELIST", "a,b"},
                                              {"MASTER_ADDR", "head"},
                                              {"MASTER_PORT", "4000"}}));
  EXPECT_EQ(m.master_addr, "head");
  EXPECT_EQ(m.port, 4000);
  EXPECT_EQ(m.local_world_size, 2);
  auto i = detect_cluster_environment(env_of({{"SLURM_NTASKS", "2"}, {"SLURM_JOB_NAME", "bash"}}));
  EXPECT_EQ(i.kind, ClusterKind::none);
}

TEST(ClusterEnvironment, SlurmFirstHost) {
  EXPECT_EQ(slurm_first_host("node1"), "node1");
  EXPECT_EQ(slurm_first_host("node1,node2"), "node1");
  EXPECT_EQ(slurm_first_host("node[5-9]"), "node5");
  EXPECT_EQ(slurm_first_host("node[12,14-16]"), "node12");
  EXPECT_EQ(slurm_first_host("alpha[001-004],beta7"), "alpha001");
  EXPECT_EQ(slurm_first_host("a[1-2],b[3-4]"), "a1");  // up to the last bracket, as re.sub
}

TEST(ClusterEnvironment, OpenMpi) {
  auto e = detect_cluster_environment(env_of({{"OMPI_COMM_WORLD_RANK", "3"},
                                              {"OMPI_COMM_WORLD_SIZE", "4"},
                                              {"OMPI_COMM_WORLD_LOCAL_RANK", "1"},
                                              {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"},
                                              {"OMPI_COMM_WORLD_NODE_RANK", "1"},
                                              {"MASTER_ADDR", "host0"}}));
  EXPECT_EQ(e.kind, ClusterKind::mpi);
  EXPECT_EQ(e.rank, 3);
  EXPECT_EQ(e.world_size, 4);
  EXPECT_EQ(e.local_rank, 1);
  EXPECT_EQ(e.local_world_size, 2);
  EXPECT_EQ(e.node_rank, 1);
  EXPECT_EQ(e.master_addr, "host0");
  EXPECT_EQ(e.port, 29500);
  // One node: rank 0 is local, no MASTER_ADDR needed; several nodes: it is.
  auto one = detect_cluster_environment(
      env_of({{"OMPI_COMM_WORLD_RANK", "1"}, {"OMPI_COMM_WORLD_SIZE", "2"}}));
  EXPECT_EQ(one.master_addr, "127.0.0.1");
  try {
    detect_cluster_environment(env_of({{"OMPI_COMM_WORLD_RANK", "1"},
                                       {"OMPI_COMM_WORLD_SIZE", "4"},
                                       {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"}}));
    FAIL();
  } catch (const ValueError& err) {
    EXPECT_NE(std::string(err.what()).find("MASTER_ADDR"), std::string::npos) << err.what();
  }
}
