/**
 * Statements no black-box clause can observe, each with the reason.
 * Waivers are counted apart from coverage.
 *
 * @module
 */
import type { Waiver } from "../harness/core/clause.ts";

const FEATURES = "drivernormative:Basic Facilities of a Virtio Device / Feature Bits";
const CONFIG = "drivernormative:Basic Facilities of a Virtio Device / Device Configuration Space";
const MMIO = "drivernormative:Virtio Transport Options / Virtio Over MMIO / MMIO Device Register Layout";
const MMIO_IRQ =
  "drivernormative:Virtio Transport Options / Virtio Over MMIO / MMIO-specific Initialization And Device Operation / Notifications From The Device";
const RESERVED_DRIVER = "drivernormative:Reserved Feature Bits";
const RESERVED_DEVICE = "devicenormative:Reserved Feature Bits";

const SHARED_MEMORY_DEVICE = "devicenormative:Basic Facilities of a Virtio Device / Shared Memory Regions";
const FRAMING_DRIVER = "drivernormative:Basic Facilities of a Virtio Device / Message Framing";
const USED_RING_DRIVER = "drivernormative:Basic Facilities of a Virtio Device / Virtqueues / The Virtqueue Used Ring";
const PACKED_DESC_DRIVER = "drivernormative:Basic Facilities of a Virtio Device / PAcked Virtqueues / " +
  "The Virtqueue Descriptor Table";
const PACKED_SG_DRIVER = "drivernormative:Basic Facilities of a Virtio Device / Packed Virtqueues / " +
  "Scatter-Gather Support";

const BLK_OPERATION_DEVICE = "devicenormative:Device Types / Block Device / Device Operation";
const BLK_OPERATION_DRIVER = "drivernormative:Device Types / Block Device / Device Operation";
const BLK_INIT_DRIVER = "drivernormative:Device Types / Block Device / Device Initialization";

/** The waivers. */
export const WAIVERS: readonly Waiver[] = [
  {
    label: SHARED_MEMORY_DEVICE,
    statement: 1,
    reason: "Whether a shared memory region controls the device or streams data is given by what the device type " +
      "puts in it, which no black-box check can tell from the outside; the region's presentation (the PCI shared " +
      "memory capability) is checked by 4.1.4.7.1#1 and #2.",
  },
  {
    label: FRAMING_DRIVER,
    statement: 2,
    reason: "The spec sets no bound on how many descriptors are too many for a buffer, so no check of it could " +
      "be sound.",
  },
  {
    label: USED_RING_DRIVER,
    statement: 2,
    reason: "The only outward sign of a driver using bytes past len is that it hands them on; 2.7.8.3#1 checks " +
      "exactly that.",
  },
  {
    label: PACKED_DESC_DRIVER,
    statement: 1,
    reason: "From outside, a driver changing a descriptor the device has not marked used is either a change to an " +
      "available descriptor (2.8.16#2) or a list written over slots still in use (2.8.17#5); the ring monitor " +
      "reports each under those clauses, so a separate clause would repeat their checks.",
  },
  {
    label: PACKED_SG_DRIVER,
    statement: 1,
    reason: "The device's limit on a list is device-type specific (virtio-blk's seg_max); it is checked by the " +
      "device-type clauses (5.2) when they come into scope. The queue-size limit is 2.8.17#2.",
  },
  {
    label: FEATURES,
    statement: 3,
    reason: "Validation happens inside the driver; only its consequences show, and those are the clauses " +
      "2.2.1#1, #2, #5 and #7.",
  },
  {
    label: CONFIG,
    statement: 4,
    reason: "MMIO tells the driver no configuration-space size, so a driver-side size limit has nothing to act on " +
      "that the harness could vary; it becomes observable over PCI, where the device configuration capability " +
      "carries a length.",
  },
  {
    label: CONFIG,
    statement: 5,
    reason: "The companion of 2.5.1#4: with no size in the MMIO interface there is no size check to observe.",
  },
  {
    label: MMIO,
    statement: 16,
    reason: "Whether the driver means to stop using a queue is its intent, not an access; the register side of it " +
      "(the read-back after QueueReady=0) is clause 4.2.2.2#17.",
  },
  {
    label: MMIO_IRQ,
    statement: 3,
    reason: "The same obligation as 4.2.2.2#19 (acknowledge handled events through InterruptACK), checked there.",
  },
  {
    label: RESERVED_DRIVER,
    statement: 4,
    reason: "How the driver programs an IOMMU is platform configuration outside the device interface.",
  },
  {
    label: RESERVED_DRIVER,
    statement: 8,
    reason: "Which memory barriers a driver executes is not visible at the device interface.",
  },
  {
    label: RESERVED_DRIVER,
    statement: 11,
    reason: "Enabling virtual functions needs a PCI SR-IOV capability, which no device the harness presents has.",
  },
  {
    label: RESERVED_DEVICE,
    statement: 3,
    reason: "Whether the device's memory access is translated or limited by the platform is a fact of the " +
      "platform, not visible at the device interface.",
  },
  {
    label: "devicenormative:Virtio Transport Options / Virtio Over PCI Bus / Virtio Structure PCI Capabilities",
    statement: 3,
    reason: "Which of several structures of one type is optimal is the device's own judgement (locality, BAR " +
      "type, caching); nothing at the interface tells a better instance from a worse one.",
  },
  {
    label: "devicenormative:Virtio Transport Options / Virtio Over PCI Bus / PCI-specific Initialization And " +
      "Device Operation / Device Initialization / Non-transitional Device With Legacy Driver",
    statement: 1,
    reason: "It applies only on a platform where a legacy driver for the same IDs is known to have existed, a " +
      "fact about the platform's history that the device interface does not reveal.",
  },
  {
    label: "devicenormative:Virtio Transport Options / Virtio Over PCI Bus / PCI-specific Initialization And " +
      "Device Operation / Device Initialization / MSI-X Vector Configuration",
    statement: 3,
    reason: "Which table size benefits system performance depends on the platform and workload; the bounds that " +
      "can be checked are clause 4.1.5.1.2.1#1.",
  },
  // Spec 4.1 driver obligations (the harness plays a PCI device).
  {
    label: "drivernormative:Virtio Transport Options / Virtio Over PCI Bus / Virtio Structure PCI Capabilities",
    statement: 5,
    reason: "How much of a structure the driver maps into its address space is invisible on the bus: only the " +
      "accesses it makes are seen, and clauses 4.1.4.1#6 and #8 check those.",
  },
  {
    label: "drivernormative:Virtio Transport Options / Virtio Over PCI Bus / PCI Device Layout / " +
      "Vendor data capability",
    statement: 1,
    reason: "Whether the driver uses vendor data only for debugging and reporting is a matter of purpose, not of " +
      "any access; what is observable (reading vendor_id first, no writes into capabilities) is checked by " +
      "4.1.4.8.2#2 and 4.1.4.1#8.",
  },
  {
    label: "drivernormative:Virtio Transport Options / Virtio Over PCI Bus / PCI-specific Initialization And " +
      "Device Operation / Available Buffer Notifications",
    statement: 5,
    reason: "The harness device cannot offer VIRTIO_F_NOTIF_CONFIG_DATA (its queue_notif_config_data is fixed at " +
      "0, which cannot be told apart from queue index 0), so the case never arises.",
  },
  {
    label: "drivernormative:Virtio Transport Options / Virtio Over PCI Bus / PCI-specific Initialization And " +
      "Device Operation / Available Buffer Notifications",
    statement: 6,
    reason: "The harness device cannot offer VIRTIO_F_NOTIF_CONFIG_DATA (its queue_notif_config_data is fixed at " +
      "0, which cannot be told apart from queue index 0), so the case never arises.",
  },
  {
    label: BLK_OPERATION_DEVICE,
    statement: 13,
    reason: "Whether stable writes reach persistent storage before their completion shows only after the device " +
      "loses power or crashes, which no black-box check of a running device can cause or see; what a running device " +
      "shows (data read back after a write, a flush completed) is checked by the request clauses.",
  },
  {
    label: BLK_OPERATION_DEVICE,
    statement: 16,
    reason: "Whether the storage behind a device has lifetime metrics that mean something is a fact about its " +
      "hardware, not visible through the virtio interface; the values a device sends are checked by 5.2.6.2#17.",
  },
  {
    label: BLK_OPERATION_DEVICE,
    statement: 31,
    reason: "The size of a secure erase request is chosen by the driver that forms it: there is nothing for the " +
      "device to do or show, and the spec gives it no status to answer a wrong size with.",
  },
  {
    label: BLK_OPERATION_DRIVER,
    statement: 13,
    reason: "What a driver assumes about its volatile writes after switching to writethrough is a belief in its own " +
      "state; it shows in nothing it sends the device.",
  },
  {
    label: BLK_OPERATION_DRIVER,
    statement: 15,
    reason: "What a driver assumes about the data of discarded sectors shows in nothing it sends the device (it may " +
      "read them; what it then does with the bytes is not visible at the transport).",
  },
  {
    label: BLK_OPERATION_DRIVER,
    statement: 16,
    reason: "What a driver assumes about the segments of a failed multi-segment request is a belief in its own " +
      "state; it shows in nothing it sends the device.",
  },
  {
    label: BLK_INIT_DRIVER,
    statement: 5,
    reason: "Whether a driver could support every zoned model is a fact about its code; what it does with the " +
      "device it took as zoned is checked request by request (5.2.6.1#18 to #26), and a driver that leaves ZONED out " +
      "of a host-managed device is held to 5.2.5.1#8.",
  },
  {
    label: BLK_OPERATION_DRIVER,
    statement: 17,
    reason: "Sector fields count 512-byte sectors, so every zone sector address a driver can send is a multiple of " +
      "512 bytes; which sectors it names is checked by 5.2.6.1#18, #20, #21 and #22.",
  },
  {
    label: "drivernormative:Device Types / Network Device / Device Operation / Control Virtqueue / Notifications " +
      "Coalescing",
    statement: 4,
    reason: "What a driver does with the values of a VQ_GET the device refused stays inside the driver: coalescing " +
      "parameters change nothing it sends the device.",
  },
  {
    label: "devicenormative:Device Types / Network Device / Device Operation / Control Virtqueue / Device Statistics",
    statement: 7,
    reason: "A 64-bit counter overflows only after 2^64 events, which no test can make a device count; the counters' " +
      "replies (types, queues, sizes, extent) are checked by 5.1.9.5.11.12#1 to #6.",
  },
  {
    label: "drivernormative:Device Types / Network Device / Device configuration layout",
    statement: 3,
    reason: "Which source address a driver's own frames carry shows only in frames the driver makes itself: the " +
      "frames the contract asks a driver to send (net-send) are whole Ethernet frames the harness chose, and the " +
      "watched real drivers' frames go to QEMU's user-mode network, which the harness does not see.",
  },
  {
    label: "drivernormative:Device Types / Network Device / Device configuration layout",
    statement: 11,
    reason: "How a driver treats a speed or duplex value it reads is a belief in its own state: nothing it sends the " +
      "device depends on it.",
  },
  {
    label: "drivernormative:Device Types / Network Device / Device Operation / Processing of Incoming Packets",
    statement: 6,
    reason: "Whether a driver relies on hdr_len shows only in what its network stack does with the segments of a " +
      "large packet, past the driver's handing of the frame, which the contract reports unchanged (5.1.9.4.2#4 " +
      "checks the frame is handed on as received).",
  },
  {
    label: "devicenormative:Device Types / Network Device / Device Operation / Control Virtqueue / " +
      "Automatic receive steering in multiqueue mode",
    statement: 4,
    reason: "With every receive queue reset, no frame the device passes on can show it has taken (or dropped) the " +
      "frame meant for them: any wait before the queues are enabled again would be a guess of the device's speed, " +
      "and a frame arriving after they are is allowed. (With RSS, 5.1.9.5.7.3#2 checks the drop, a frame for another " +
      "queue marking the moment.)",
  },
  {
    label: "drivernormative:Device Types / Network Device / Device Operation / Processing of Incoming Packets",
    statement: 3,
    reason: "Whether a driver takes outer_nh_offset as the outer network header's offset shows only in how its " +
      "network stack parses the packet later; the field exists only with VIRTIO_NET_F_OUT_NET_HEADER, and the " +
      "contract reports the frame, not how it was parsed.",
  },
  {
    label: "drivernormative:Device Types / Network Device / Device Operation / Processing of Incoming Packets",
    statement: 9,
    reason:
      "Whether a driver uses outer_th_offset and inner_nh_offset of a packet without a tunnel bit shows only in " +
      "how its network stack parses the packet later, not in the frame the contract reports.",
  },
  {
    label: "drivernormative:Device Types / Network Device / Device Operation / Processing of Incoming Packets",
    statement: 7,
    reason: "Whether a driver relies on a checksum the device did not check shows only in whether its network stack " +
      "verifies the packet later, not in anything the driver sends the device or reports for a received frame.",
  },
];
