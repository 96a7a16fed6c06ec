import '@mantine/core/styles.css';
import { MantineProvider, createTheme } from '@mantine/core';
import { BrowserRouter } from 'react-router-dom';
import type { SessionInfo } from '../session/session.js';
import { SignedInConsole } from './SignedInConsole.js';

const theme = createTheme({ primaryColor: 'indigo', defaultRadius: 'md' });

/**
 * Everything behind the sign-in: the component library (its styles and provider), the router
 * and the console. A chunk of its own, so the login page paints without Mantine; extensions get
 * Mantine from the same shared singleton, which is only fetched here.
 */
export default function SignedInApp({ user, onSignedOut }: { user: NonNullable<SessionInfo['user']>; onSignedOut: () => void }) {
  return (
    <MantineProvider theme={theme}>
      <BrowserRouter>
        <SignedInConsole user={user} onSignedOut={onSignedOut} />
      </BrowserRouter>
    </MantineProvider>
  );
}
