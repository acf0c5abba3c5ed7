// The nn layer: modules, layers, losses, containers, functional, init, safetensors.
#pragma once

#include "nn/activation.h"
#include "nn/attention.h"
#include "nn/containers.h"
#include "nn/conv.h"
#include "nn/functional.h"
#include "nn/init.h"
#include "nn/layers.h"
#include "nn/loss.h"
#include "nn/module.h"
#include "nn/norm.h"
#include "nn/pooling.h"
#include "nn/resample.h"
#include "nn/rnn.h"
#include "nn/safetensors.h"
#include "nn/transformer.h"
