// Placeholder: the client-safety tests (written next).
#include <gtest/gtest.h>
