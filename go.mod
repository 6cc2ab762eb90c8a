module github.com/dind-cluster/dind-cluster

go 1.26.0

require (
	github.com/bitfield/script v0.25.2
	github.com/hashicorp/go-multierror v1.1.1
	github.com/ulikunitz/xz v0.5.17
	golang.org/x/sync v0.25.0
	sigs.k8s.io/yaml v1.6.0
)

require (
	github.com/hashicorp/errwrap v1.0.0 // indirect
	github.com/itchyny/gojq v0.12.13 // indirect
	github.com/itchyny/timefmt-go v0.1.5 // indirect
	github.com/magefile/mage v1.17.2 // indirect
	go.yaml.in/yaml/v2 v2.4.2 // indirect
	mvdan.cc/sh/v3 v3.7.0 // indirect
)

tool github.com/magefile/mage
