// The nn layer: modules, layers, containers, functional, init, safetensors.
#pragma once

#include "nn/attention.h"
#include "nn/containers.h"
#include "nn/functional.h"
#include "nn/init.h"
#include "nn/layers.h"
#include "nn/module.h"
#include "nn/norm.h"
#include "nn/safetensors.h"
