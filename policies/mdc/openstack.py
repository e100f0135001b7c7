"""The pulumi-openstack type tokens the rules inspect (the provider's, not multidc's contract)."""

NETWORK = "openstack:networking/network:Network"
SUBNET = "openstack:networking/subnet:Subnet"
PORT = "openstack:networking/port:Port"
ROUTER = "openstack:networking/router:Router"
SEC_GROUP_RULE = "openstack:networking/secGroupRule:SecGroupRule"
FLOATING_IPS = frozenset({
    "openstack:networking/floatingIp:FloatingIp",
    "openstack:networking/floatingIpAssociate:FloatingIpAssociate",
    "openstack:compute/floatingIpAssociate:FloatingIpAssociate",
})
COMPUTE_INSTANCE = "openstack:compute/instance:Instance"
DATABASE_INSTANCE = "openstack:database/instance:Instance"
DATABASE_CONFIGURATION = "openstack:database/configuration:Configuration"
VOLUME = "openstack:blockstorage/volume:Volume"
CLUSTER = "openstack:containerinfra/cluster:Cluster"
LOAD_BALANCER = "openstack:loadbalancer/loadBalancer:LoadBalancer"
LISTENER = "openstack:loadbalancer/listener:Listener"
IKE_POLICY = "openstack:vpnaas/ikePolicy:IkePolicy"
IPSEC_POLICY = "openstack:vpnaas/ipSecPolicy:IpSecPolicy"
SWIFT_CONTAINER = "openstack:objectstorage/container:Container"
