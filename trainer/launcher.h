// The Trainer's launcher for strategy "ddp" (Lightning's _SubprocessScriptLauncher): when no
// external launcher started this process, it re-executes the program (/proc/self/exe, the
// same argv) once per other local rank, with torchrun's variables set, and this process
// becomes local rank 0.
//
//   process       RANK                  LOCAL_RANK  WORLD_SIZE          LOCAL_WORLD_SIZE
//   this one      node_rank * devices   0           devices * num_nodes devices
//   child i       node_rank*devices+i   i           (same)              (same)
//
// plus NODE_RANK, MASTER_ADDR (the variable, else 127.0.0.1) and MASTER_PORT (the variable,
// else a free port of this machine: over several nodes set MASTER_ADDR and MASTER_PORT on
// every node, as Lightning asks). This process gets the same variables, so a second Trainer
// in it joins the ranks already running instead of spawning again.
#pragma once

#include <sys/types.h>
#include <string>
#include <vector>

#include "distributed/cluster_env.h"

namespace ember {

class SubprocessLauncher {
 public:
  SubprocessLauncher() = default;
  ~SubprocessLauncher();  // waits for the children (reporting failures on stderr)
  SubprocessLauncher(const SubprocessLauncher&) = delete;
  SubprocessLauncher& operator=(const SubprocessLauncher&) = delete;

  // Starts local ranks 1..devices-1 and returns this process's environment (rank 0 of the
  // node). NODE_RANK (default 0) places this node among num_nodes.
  distributed::ClusterEnvironment launch(int devices, int num_nodes);

  // Blocks until every child has exited; throws distributed::DistError naming each child that
  // failed (its rank, pid, exit code or signal).
  void join();
  // Without blocking: "rank 1 (pid 123) exited with code 3; ..." for the children that have
  // already failed, or "" (a collective's error on this rank adds it).
  std::string failed_children();
  bool launched() const { return !children_.empty(); }
  // Ends the children that still run (SIGKILL) and reaps them: what the parent does when it
  // fails, so they do not wait for it until the collective timeout (as Lightning's kill).
  void kill();

 private:
  struct Child {
    int rank;
    pid_t pid;
    bool done = false;
    int status = 0;
  };
  std::string describe_failures() const;
  std::vector<Child> children_;
};

// A TCP port that is free on this machine now (bind to port 0 and ask).
int find_free_port();

}  // namespace ember
