import { Badge, Group, Text } from '@mantine/core';
import styles from './devops.css';
import { phaseColor, type RunStatus, type Stage } from './paths.js';

/**
 * Stages left to right; a stage's parallel branches stacked inside it. Given a run's status,
 * each stage and step shows its phase and a step can be picked (to filter the log).
 */
export function StageGraph(props: { stages: Stage[]; status?: RunStatus; selected?: string; onSelect?: (stepKey: string | undefined) => void }) {
  const statusOf = (i: number) => props.status?.stages?.[i];
  return (
    <div className={styles.graph} data-testid="stage-graph">
      {props.stages.map((stage, i) => {
        const st = statusOf(i);
        const branches = stage.parallel ?? [{ name: stage.name, steps: stage.steps ?? [] }];
        return (
          <div key={stage.name} className={styles.stage} data-testid={`stage-${stage.name}`} data-phase={st?.phase ?? ''}>
            <Group justify="space-between" gap={4}>
              <Text fw={600} size="sm">{stage.name}</Text>
              {st && <Badge size="xs" color={phaseColor(st.phase)}>{st.phase}</Badge>}
            </Group>
            {stage.when && <Text size="xs" c="dimmed">when {stage.when.parameter} == {stage.when.equals}</Text>}
            {branches.map((b, bi) => (
              <div key={b.name}>
                {stage.parallel && <Text size="xs" c="dimmed" mt={4}>{b.name}</Text>}
                {b.steps.map((_, si) => {
                  const step = st?.branches?.[bi]?.steps?.[si];
                  const name = step?.name ?? `step-${si}`;
                  const key = `${stage.name}/${stage.parallel ? `${b.name}/` : ''}${name}`;
                  return (
                    <div
                      key={key}
                      className={`${styles.step} ${props.selected === key ? styles.selected : ''}`}
                      data-testid={`step-${key}`}
                      onClick={() => props.onSelect?.(props.selected === key ? undefined : key)}
                    >
                      <Badge variant="light" size="sm" color={phaseColor(step?.phase)}>{name}{step?.approvedBy ? ` ✓ ${step.approvedBy}` : ''}</Badge>
                    </div>
                  );
                })}
              </div>
            ))}
          </div>
        );
      })}
    </div>
  );
}
