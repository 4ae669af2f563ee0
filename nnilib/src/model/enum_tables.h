// Private to the model module: the name tables of the model's and the training's enums,
// shared by to_string() (model_spec.cpp, params.cpp) and the parameter table that accepts
// them (params.cpp). Each row order is the order the accepted values are listed in.
#pragma once

#include "nnilib/common/enum_names.h"
#include "nnilib/model/params.h"

namespace nnilib {

inline constexpr EnumName<Activation> kActivationNames[] = {{Activation::kRelu, "relu"},
                                                            {Activation::kGelu, "gelu"},
                                                            {Activation::kSilu, "silu"},
                                                            {Activation::kLeakyRelu, "leaky_relu"}};
inline constexpr EnumName<Pool> kPoolNames[] = {
    {Pool::kMax, "max"}, {Pool::kAvg, "avg"}, {Pool::kNone, "none"}};
inline constexpr EnumName<Head> kHeadNames[] = {{Head::kGlobalAvg, "gap"},
                                                {Head::kFlatten, "flatten"}};
inline constexpr EnumName<Optimizer> kOptimizerNames[] = {
    {Optimizer::kAdam, "adam"}, {Optimizer::kAdamW, "adamw"}, {Optimizer::kSgd, "sgd"}};
inline constexpr EnumName<Schedule> kScheduleNames[] = {{Schedule::kConstant, "constant"},
                                                        {Schedule::kCosine, "cosine"},
                                                        {Schedule::kOneCycle, "one_cycle"}};

}  // namespace nnilib
