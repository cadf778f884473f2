// Placeholder: the hostile-client tests (written next).
#include <gtest/gtest.h>
