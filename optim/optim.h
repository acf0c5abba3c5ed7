// The optim layer: optimizers with parameter groups, schedulers, gradient clipping.
#pragma once

#include "optim/adagrad.h"
#include "optim/adam.h"
#include "optim/clip.h"
#include "optim/grad_scaler.h"
#include "optim/lr_scheduler.h"
#include "optim/lr_scheduler_more.h"
#include "optim/nadam.h"
#include "optim/optimizer.h"
#include "optim/radam.h"
#include "optim/rmsprop.h"
#include "optim/sgd.h"
#include "optim/swa_lr.h"
