"""DDS kept on the loopback, in a domain of this process's own; call before importing rclpy."""
import os
import random


def pin_loopback(domain: str = "") -> None:
    """Discovery on localhost only; ROS_DOMAIN_ID = `domain`, else a random one unless set."""
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ["ROS_LOCALHOST_ONLY"] = "1"
    if domain:
        os.environ["ROS_DOMAIN_ID"] = domain
    else:
        os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(1, 100)))
