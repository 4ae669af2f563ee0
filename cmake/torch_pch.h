// The precompiled header shared by every translation unit that includes torch.
#pragma once
#include <torch/torch.h>
