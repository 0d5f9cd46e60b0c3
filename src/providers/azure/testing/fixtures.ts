/** A public key for launches in tests (the emulator's sshd authorizes it; the contract never logs in). */
export const TEST_PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICN+lJwsONkwrdsSnQsu1ydUkIuIg5oOC+Eslvmtt60T kiln-test";
