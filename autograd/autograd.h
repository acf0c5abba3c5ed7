// autograd's public API: backward, grad, grad mode, gradcheck.
#pragma once

#include "autograd/anomaly_mode.h"
#include "autograd/autocast.h"
#include "autograd/engine.h"
#include "autograd/grad_mode.h"
#include "autograd/gradcheck.h"
#include "autograd/node.h"
