import { Component, type ReactNode } from 'react';
import { backoffMs } from './registry.js';
import { ExtensionErrorCard } from './ExtensionErrorCard.js';

interface Props {
  name: string;
  children: ReactNode;
}

interface State {
  error?: Error;
  attempts: number;
  retryAt?: number;
}

/**
 * Every piece of an extension renders inside one: a component that throws (or a chunk that
 * fails to load) becomes an error card naming the extension; the rest of the console goes on.
 * It tries again by itself with backoff, and at once with the retry button.
 */
export class ExtensionBoundary extends Component<Props, State> {
  override state: State = { attempts: 0 };
  private timer?: ReturnType<typeof setTimeout>;

  static getDerivedStateFromError(error: Error): Partial<State> {
    return { error };
  }

  override componentDidCatch(error: Error): void {
    console.error(`extension "${this.props.name}" failed:`, error);
    const attempts = this.state.attempts + 1;
    const wait = backoffMs(attempts) * 5;
    this.setState({ attempts, retryAt: Date.now() + wait });
    clearTimeout(this.timer);
    this.timer = setTimeout(this.retry, wait);
  }

  override componentWillUnmount(): void {
    clearTimeout(this.timer);
  }

  retry = (): void => {
    clearTimeout(this.timer);
    this.setState({ error: undefined, retryAt: undefined });
  };

  override render(): ReactNode {
    if (this.state.error) {
      return <ExtensionErrorCard name={this.props.name} error={this.state.error.message || String(this.state.error)} retryAt={this.state.retryAt} onRetry={this.retry} />;
    }
    // A new key after a retry remounts the subtree (and re-requests lazy chunks).
    return <div key={this.state.attempts} className="mortise-extension" data-extension={this.props.name}>{this.props.children}</div>;
  }
}
