// Package chartcheck holds the tests of the Helm chart in deploy/helm: the
// chart is rendered with a pinned helm (the HELM environment variable, set
// by `make test-deploy`), every manifest is decoded strictly into the
// k8s.io/api types, and the environment the chart sets is compared with
// the Config struct that cmd/hookstream reads. It is a module of its own so
// that hookstream's module does not depend on Kubernetes. It has no
// non-test code.
package chartcheck
