//go:build ignore

// The zero-install entry: `go run mage.go TARGET` needs nothing but Go.
package main

import (
	"os"

	"github.com/magefile/mage/mage"
)

func main() { os.Exit(mage.Main()) }
