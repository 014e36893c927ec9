"""Neutron's error types: each class name is the ``type`` of the ``NeutronError`` body."""

from __future__ import annotations

from nimbus.errors import Conflict, InvalidSpec, NotFound


class NetworkNotFound(NotFound):
    def __init__(self, network_id: str) -> None:
        super().__init__(f"Network {network_id} could not be found.")


class SubnetNotFound(NotFound):
    def __init__(self, subnet_id: str) -> None:
        super().__init__(f"Subnet {subnet_id} could not be found.")


class PortNotFound(NotFound):
    def __init__(self, port_id: str) -> None:
        super().__init__(f"Port {port_id} could not be found.")


class RouterNotFound(NotFound):
    def __init__(self, router_id: str) -> None:
        super().__init__(f"Router {router_id} could not be found.")


class FloatingIPNotFound(NotFound):
    def __init__(self, fip_id: str) -> None:
        super().__init__(f"Floating IP {fip_id} could not be found")


class SecurityGroupNotFound(NotFound):
    def __init__(self, group_id: str) -> None:
        super().__init__(f"Security group {group_id} does not exist")


class SecurityGroupRuleNotFound(NotFound):
    def __init__(self, rule_id: str) -> None:
        super().__init__(f"Security group rule {rule_id} does not exist")


class RouterInterfaceNotFound(NotFound):
    """No interface of the router matches the port or subnet."""


class ExternalGatewayForFloatingIPNotFound(NotFound):
    """No router joins the port's subnet to the floating IP's external network."""


class NetworkInUse(Conflict):
    def __init__(self, network_id: str) -> None:
        super().__init__(
            f"Unable to complete operation on network {network_id}. There are one or more"
            " ports still in use on the network."
        )


class SubnetInUse(Conflict):
    def __init__(self, subnet_id: str) -> None:
        super().__init__(
            f"Unable to complete operation on subnet {subnet_id}: One or more ports have an"
            " IP allocation from this subnet."
        )


class PortInUse(Conflict):
    """The port belongs to a device that must release it first."""


class IpAddressAlreadyAllocated(Conflict):
    def __init__(self, ip: str, subnet_id: str) -> None:
        super().__init__(f"IP address {ip} already allocated in subnet {subnet_id}")


class IpAddressGenerationFailure(Conflict):
    def __init__(self, network_id: str) -> None:
        super().__init__(f"No more IP addresses available on network {network_id}.")


class MacAddressInUse(Conflict):
    def __init__(self, mac: str, network_id: str) -> None:
        super().__init__(
            f"Unable to complete operation for network {network_id}. The mac address {mac}"
            " is in use."
        )


class RouterInUse(Conflict):
    def __init__(self, router_id: str) -> None:
        super().__init__(f"Router {router_id} still has ports")


class RouterInterfaceInUseByFloatingIP(Conflict):
    """A floating IP still reaches a fixed IP through the interface."""


class RouterExternalGatewayInUseByFloatingIp(Conflict):
    """A floating IP still uses the router's gateway."""


class FloatingIPPortAlreadyAssociated(Conflict):
    """The fixed IP already has a floating IP."""


class SecurityGroupInUse(Conflict):
    def __init__(self, group_id: str) -> None:
        super().__init__(f"Security Group {group_id} in use.")


class SecurityGroupRuleExists(Conflict):
    def __init__(self, rule_id: str) -> None:
        super().__init__(f"Security group rule already exists. Rule id is {rule_id}.")


class SecurityGroupCannotRemoveDefault(Conflict):
    def __init__(self) -> None:
        super().__init__("Insufficient rights for removing default security group.")


class SecurityGroupDefaultAlreadyExists(Conflict):
    def __init__(self) -> None:
        super().__init__("Default security group already exists.")


class InvalidInput(InvalidSpec):
    def __init__(self, message: str) -> None:
        super().__init__(f"Invalid input for operation: {message}")


class NotSupported(InvalidSpec):
    """A Neutron feature Nimbus does not offer: refused, never silently ignored."""
