//go:build !linux

package test

import "os"

const envExecWithoutMMsg = "FERRY_TEST_EXEC_WITHOUT_MMSG"

func execWithoutMMsg(string) { os.Exit(127) }
