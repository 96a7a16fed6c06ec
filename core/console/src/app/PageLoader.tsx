import { Center, Loader } from '@mantine/core';

export function PageLoader() {
  return <Center p="xl"><Loader size="sm" /></Center>;
}
