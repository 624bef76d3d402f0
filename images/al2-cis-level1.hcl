# Amazon Linux 2, CIS Benchmark Level 1, x86_64. Its CIS firewall is
# iptables (saved in /etc/sysconfig/iptables); the host script handles it.
# product_code is left out: it is not recorded here. Subscribe to the
# Marketplace product before the first build.
# Amazon Linux 2 reached its end of life on 2026-06-30, and the AMIs of an
# OS past its end of life get deprecated, which EC2 hides from other
# accounts unless asked: include_deprecated keeps the base findable.
image "al2-cis-level1" {
  base {
    owners             = ["aws-marketplace"]
    name               = "CIS Amazon Linux 2 Benchmark - Level 1*"
    architecture       = "x86_64"
    os                 = "al2"
    include_deprecated = true
  }

  region = "us-east-1"

  tags = {
    Project = "cisecs"
  }

  ecs {
    network_modes     = ["awsvpc", "bridge", "host"]
    awsvpc_block_imds = true
  }
}
