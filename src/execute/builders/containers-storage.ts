// buildah and podman share containers/storage. vfs works everywhere, including inside containers
// where overlay-on-overlay is refused; ARBOR_STORAGE_DRIVER picks another (e.g. overlay) where it works.
// Both tools must use the same driver, or each would see an empty image store.
export function storageDriver(): string {
  return process.env.ARBOR_STORAGE_DRIVER || 'vfs';
}

/** `--tls-verify=false` for a plain-HTTP registry (pull of a missing parent, or push). */
export function tlsFlag(insecure: boolean | undefined): string[] {
  return insecure ? ['--tls-verify=false'] : [];
}
