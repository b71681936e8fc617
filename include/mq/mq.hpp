#pragma once
#include "mq/config.hpp"
#include "mq/envelope.hpp"
#include "mq/envelope_json.hpp"
#include "mq/error.hpp"
#include "mq/queue.hpp"
