// ember: the one header a user includes.
#pragma once

#include "autograd/autograd.h"
#include "nn/nn.h"
#include "optim/optim.h"
#include "tensor/backend.h"
#include "tensor/device.h"
#include "tensor/dtype.h"
#include "tensor/error.h"
#include "tensor/ops.h"
#include "tensor/scalar.h"
#include "tensor/shape.h"
#include "tensor/tensor.h"
