/*
 * alloc_fault.h - the allocation-failure hook of test builds (see
 * alloc_fault.c): fail the Nth wrapped allocation.
 */
#ifndef ALLOC_FAULT_H
#define ALLOC_FAULT_H

#include <stdbool.h>

/* Restarts the count at 0 and makes call n (1-based) fail; 0: none. */
void alloc_fault_set(unsigned long n);

/* Wrapped calls since the start (or the last alloc_fault_set). */
unsigned long alloc_fault_calls(void);

#endif /* ALLOC_FAULT_H */
