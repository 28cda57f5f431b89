/**
 * Generate / Edit tabs, following the WAI-ARIA tabs pattern: one tab in the Tab order, arrow
 * keys (and Home/End) move between tabs and select them.
 */
export type TabName = 'generate' | 'edit';

export function initTabs(tablist: HTMLElement, onSelect: (name: TabName) => void = () => {}): (name: TabName, focusTab?: boolean) => void {
  const tabs = [...tablist.querySelectorAll<HTMLButtonElement>('[role="tab"]')];
  const select = (name: TabName, focusTab = false) => {
    for (const tab of tabs) {
      const selected = tab.id === `tab-${name}`;
      tab.setAttribute('aria-selected', String(selected));
      tab.tabIndex = selected ? 0 : -1;
      document.getElementById(tab.getAttribute('aria-controls')!)!.hidden = !selected;
      if (selected && focusTab) tab.focus();
    }
    onSelect(name);
  };
  const nameOf = (tab: HTMLElement) => tab.id.replace(/^tab-/, '') as TabName;
  for (const tab of tabs) {
    tab.addEventListener('click', () => select(nameOf(tab)));
    tab.addEventListener('keydown', (e) => {
      const i = tabs.indexOf(tab);
      const to = e.key === 'ArrowRight' ? (i + 1) % tabs.length
        : e.key === 'ArrowLeft' ? (i - 1 + tabs.length) % tabs.length
          : e.key === 'Home' ? 0 : e.key === 'End' ? tabs.length - 1 : -1;
      if (to < 0) return;
      e.preventDefault();
      select(nameOf(tabs[to]), true);
    });
  }
  return select;
}
