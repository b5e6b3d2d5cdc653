//! Fleet integration (issue 21): the files shipped under packaging/fleet/ (HAProxy, Prometheus,
//! Grafana, Ansible) checked with their real tools, and three daemons in network namespaces
//! behind Debian's HAProxy with the shipped config.

mod balancer;
mod files;
