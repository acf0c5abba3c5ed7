// The distributed layer: the store, the launchers' environments, process groups and their
// collectives (docs/distributed.md).
#pragma once

#include "distributed/cluster_env.h"
#include "distributed/data_parallel.h"
#include "distributed/errors.h"
#include "distributed/process_group.h"
#include "distributed/store.h"
