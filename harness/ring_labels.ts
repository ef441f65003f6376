/**
 * Labels of the driver-obligation requirement blocks about virtqueues (spec
 * 2.6, 2.7, 2.8 and the cleanup block of 3.3), shared by the ring monitor,
 * the ring clauses and the ring mutants.
 *
 * @module
 */

const BASIC = "drivernormative:Basic Facilities of a Virtio Device";

/** 2.7.1: virtqueue area alignment. */
export const VQ = `${BASIC} / Virtqueues`;
/** 2.7.4.2: message framing. */
export const FRAMING = `${BASIC} / Message Framing`;
/** 2.7.5.2: the descriptor table. */
export const DESC_TABLE = `${VQ} / The Virtqueue Descriptor Table`;
/** 2.7.5.3.1: indirect descriptors. */
export const INDIRECT = `${DESC_TABLE} / Indirect Descriptors`;
/** 2.7.6.1: the available ring. */
export const AVAIL_RING = `${VQ} / The Virtqueue Available Ring`;
/** 2.7.7.1: used buffer notification suppression. */
export const USED_SUPPRESSION = `${VQ} / Used Buffer Notification Suppression`;
/** 2.7.8.3: the used ring. */
export const USED_RING = `${VQ} / The Virtqueue Used Ring`;
/** 2.7.10.1: available buffer notification suppression. */
export const AVAIL_SUPPRESSION = `${VQ} / Available Buffer Notification Suppression`;
/** 2.7.13.3.1: updating idx. */
export const UPDATING_IDX = `${VQ} / Supplying Buffers to The Device / Updating idx`;
/** 2.7.13.4.1: notifying the device. */
export const NOTIFYING = `${VQ} / Supplying Buffers to The Device / Notifying The Device`;
/** 2.6.1.1.2: virtqueue reset. */
export const QUEUE_RESET = `${VQ} / Virtqueue Reset / Virtqueue Reset`;
/** 2.6.1.2.2: virtqueue re-enable. */
export const QUEUE_REENABLE = `${VQ} / Virtqueue Reset / Virtqueue Re-enable`;
/** 2.8.11: packed virtqueues. */
export const PACKED = `${BASIC} / Packed Virtqueues`;
/** 2.8.16: the packed descriptor table (the spec spells this label "PAcked"). */
export const PACKED_DESC = `${BASIC} / PAcked Virtqueues / The Virtqueue Descriptor Table`;
/** 2.8.17: packed scatter-gather support. */
export const PACKED_SG = `${PACKED} / Scatter-Gather Support`;
/** 2.8.19: packed indirect descriptors. */
export const PACKED_INDIRECT = `${PACKED} / The Virtqueue Descriptor Table / Indirect Descriptors`;
/** 2.8.21.1.1: updating flags. */
export const PACKED_FLAGS = `${PACKED} / Supplying Buffers to The Device / Updating flags`;
/** 2.8.21.3.1: sending available buffer notifications. */
export const PACKED_NOTIFY = `${PACKED} / Supplying Buffers to The Device / Sending Available Buffer Notifications`;
/** 3.3.1: device cleanup. */
export const CLEANUP = "drivernormative:General Initialization And Device Operation / Device Cleanup";

/** 3.4.1: the driver while the device is suspended (VIRTIO_F_SUSPEND). */
export const SUSPEND_DRIVER = "drivernormative:General Initialization And Device Operation / Device Suspend";
