//go:build !linux

package test

import "os"

const envExecFamilies = "FERRY_TEST_EXEC_FAMILIES"

var addressFamilies = map[string]uint32{}

func familiesFilterable() bool { return false }

func execWithFamilies(string, []string) { os.Exit(127) }
