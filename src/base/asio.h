#pragma once
// Include Asio through this header: Boost 1.74's asio/awaitable.hpp uses std::exchange without
// including <utility>, which breaks under C++20 unless <utility> comes first.
// clang-format off
#include <utility>
#include <boost/asio.hpp>
// clang-format on
